package rdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// errSyncRefused is wrapped when the server will not act as a master for
// us (SYNC/PSYNC renamed away, ACL, managed Redis): the SCAN+DUMP fallback
// takes over.
var errSyncRefused = errors.New("replication (SYNC/PSYNC) refused")

// syncInfo is what the replication handshake tells about the snapshot.
type syncInfo struct {
	ReplID string
	Offset int64
}

// startSync asks the server for a full resynchronization as a replica
// that only wants the RDB, and returns a reader of exactly the RDB
// payload (length-prefixed or EOF-marked form). eof announces the
// diskless capability (see TransferDiskless).
func (rc *rawConn) startSync(eof bool) (io.Reader, syncInfo, error) {
	var si syncInfo
	capa := []string{"REPLCONF", "capa", "psync2"}
	if eof {
		capa = []string{"REPLCONF", "capa", "eof", "capa", "psync2"}
	}
	if _, err := rc.do(capa...); err != nil {
		var se serverError
		if errors.As(err, &se) {
			return nil, si, fmt.Errorf("%w: %v", errSyncRefused, err)
		}
		return nil, si, err
	}
	// Redis ≥ 7: no replication stream after the RDB. Older servers refuse
	// the option, which is harmless: we close the connection after the RDB.
	if _, err := rc.do("REPLCONF", "rdb-only", "1"); err != nil {
		var se serverError
		if !errors.As(err, &se) {
			return nil, si, err
		}
	}
	l, err := rc.command("PSYNC", "?", "-1")
	if err != nil {
		return nil, si, err
	}
	if strings.HasPrefix(l, "-") {
		// Some servers allow SYNC but not PSYNC.
		if l, err = rc.command("SYNC"); err != nil {
			return nil, si, err
		}
		if strings.HasPrefix(l, "-") {
			return nil, si, fmt.Errorf("%w: %s", errSyncRefused, l[1:])
		}
	}
	if f := strings.Fields(l); len(f) == 3 && f[0] == "+FULLRESYNC" {
		si.ReplID = f[1]
		si.Offset, _ = strconv.ParseInt(f[2], 10, 64)
		if l, err = rc.nonEmptyLine(); err != nil {
			return nil, si, err
		}
	}
	if !strings.HasPrefix(l, "$") {
		return nil, si, fmt.Errorf("redis %s: unexpected replication reply %q", rc.addr, l)
	}
	if mark, ok := strings.CutPrefix(l, "$EOF:"); ok {
		if len(mark) != 40 {
			return nil, si, fmt.Errorf("redis %s: bad EOF marker in %q", rc.addr, l)
		}
		return &eofReader{r: rc.br, mark: []byte(mark)}, si, nil
	}
	n, err := strconv.ParseInt(l[1:], 10, 64)
	if err != nil || n < 0 {
		return nil, si, fmt.Errorf("redis %s: bad RDB length in %q", rc.addr, l)
	}
	return &exactReader{r: io.LimitReader(rc.br, n), left: n}, si, nil
}

// command sends a command and returns the first non-empty reply line
// (the master sends bare newlines as keep-alives while it forks).
func (rc *rawConn) command(args ...string) (string, error) {
	if _, err := rc.bw.Write(appendCmd(nil, args...)); err != nil {
		return "", err
	}
	if err := rc.bw.Flush(); err != nil {
		return "", err
	}
	return rc.nonEmptyLine()
}

func (rc *rawConn) nonEmptyLine() (string, error) {
	for {
		l, err := rc.line()
		if err != nil {
			return "", err
		}
		if l != "" {
			return l, nil
		}
	}
}

// exactReader reports a short payload as an error instead of a clean EOF.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = fmt.Errorf("replication stream ended %d bytes before the announced RDB length: %w", e.left, io.ErrUnexpectedEOF)
	}
	return n, err
}

// eofReader returns the payload of the diskless "$EOF:<mark>" form: the
// bytes before the 40-byte random marker. It holds back the last 40 bytes
// until it knows whether they are the marker.
type eofReader struct {
	r      io.Reader
	mark   []byte
	store  []byte
	lo, hi int
	done   bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	if e.store == nil {
		e.store = make([]byte, 256<<10)
	}
	for {
		if e.done {
			if e.lo == e.hi {
				return 0, io.EOF
			}
			n := copy(p, e.store[e.lo:e.hi])
			e.lo += n
			return n, nil
		}
		if e.hi-e.lo > len(e.mark) {
			n := copy(p, e.store[e.lo:e.hi-len(e.mark)])
			e.lo += n
			return n, nil
		}
		copy(e.store, e.store[e.lo:e.hi])
		e.hi -= e.lo
		e.lo = 0
		scanFrom := 0
		n, err := e.r.Read(e.store[e.hi:])
		e.hi += n
		// Anything after the marker (a server that streams on) is not ours.
		if i := bytes.Index(e.store[scanFrom:e.hi], e.mark); i >= 0 {
			e.hi = scanFrom + i
			e.done = true
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("replication stream ended before the EOF marker: %w", io.ErrUnexpectedEOF)
			}
			return 0, err
		}
	}
}

// readAhead reads src in its own goroutine into a few large buffers, so
// that receiving the replication stream overlaps with writing and
// parsing it. Memory: at most readAheadBufs × readAheadSize.
type readAhead struct {
	full  chan []byte
	free  chan []byte
	cur   []byte
	buf   []byte
	err   error
	errCh chan error
	done  chan struct{}
	gone  chan struct{} // closed when the reading goroutine has returned
}

// Close stops the reading goroutine (the caller closes the source).
func (ra *readAhead) Close() { close(ra.done) }

// Stop stops the reading goroutine and waits until it has returned (at
// most the source's Read it is in), so that the caller may then close a
// source that must not be closed while it is read.
func (ra *readAhead) Stop() {
	ra.Close()
	<-ra.gone
}

const (
	readAheadBufs = 4
	readAheadSize = 1 << 20
)

func newReadAhead(src io.Reader) *readAhead {
	ra := &readAhead{full: make(chan []byte, readAheadBufs), free: make(chan []byte, readAheadBufs),
		errCh: make(chan error, 1), done: make(chan struct{}), gone: make(chan struct{})}
	for i := 0; i < readAheadBufs; i++ {
		ra.free <- make([]byte, readAheadSize)
	}
	go func() {
		defer close(ra.gone)
		defer close(ra.full)
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ra.done:
				return
			}
			n, err := io.ReadAtLeast(src, b, 1)
			if n > 0 {
				ra.full <- b[:n] // never blocks: as many slots as buffers
			}
			if err != nil {
				ra.errCh <- err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		b, ok := <-ra.full
		if !ok {
			if ra.err == nil {
				ra.err = <-ra.errCh
			}
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}
