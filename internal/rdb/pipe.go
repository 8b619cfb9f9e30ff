package rdb

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
)

// restorer sends pipelined RESTORE commands on a raw connection while a
// second goroutine reads the replies. At most maxInflight batches are
// unanswered at a time (back-pressure), so memory stays bounded.
type restorer struct {
	rc       *rawConn
	version  int
	batchMax int
	cur      *pbatch
	ch       chan *pbatch
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
	ok       map[int]int64 // keys acknowledged per db
	db       int
	scratch  []byte
	setPXAT  bool // server ≥ 6.2: plain strings go as SET … PXAT
	// mset holds the key and value arguments of the MSET being gathered
	// for plain strings without an expiry: one command (one dispatch, one
	// AOF entry) for up to msetMaxKeys keys. It is sent when it is full,
	// before any other command, and by finish, so commands keep the
	// file's order.
	mset      []byte
	msetKeys  int
	msetFirst string
}

type pbatch struct {
	n    int
	keys []string // the key (an MSET's first key)
	dbs  []int    // -(db+1) for a SELECT
	cnt  []int    // keys a reply acknowledges: 1, or an MSET's keys
	cmd  []string // the command, for an error
}

// An MSET is sent at msetMaxKeys keys or once its arguments pass
// msetMaxBytes: Redis keeps a command's arguments in memory until it has
// run it, and a big multibulk would delay the replies behind it.
const (
	msetMaxKeys  = 128
	msetMaxBytes = 256 << 10
)

const maxInflight = 8

func newRestorer(rc *rawConn, version, batch int) *restorer {
	r := &restorer{rc: rc, version: version, batchMax: batch, ch: make(chan *pbatch, maxInflight),
		ok: map[int]int64{}, db: -1}
	r.wg.Add(1)
	go r.readLoop()
	return r
}

func (r *restorer) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
}

func (r *restorer) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *restorer) readLoop() {
	defer r.wg.Done()
	for b := range r.ch {
		for i := 0; i < b.n; i++ {
			line, err := r.rc.br.ReadSlice('\n')
			if err != nil {
				r.fail(fmt.Errorf("reading RESTORE replies from %s: %w", r.rc.addr, err))
				for range r.ch { // drain so the writer does not block
				}
				return
			}
			switch {
			case len(line) > 0 && line[0] == '+':
				if b.dbs[i] >= 0 {
					r.mu.Lock()
					r.ok[b.dbs[i]] += int64(b.cnt[i])
					r.mu.Unlock()
				}
			case len(line) > 0 && line[0] == '-':
				what := "SELECT " + strconv.Itoa(-b.dbs[i]-1)
				switch {
				case b.dbs[i] >= 0 && b.cmd[i] == "MSET" && b.cnt[i] > 1:
					what = fmt.Sprintf("MSET of %d keys, the first %q (db %d),", b.cnt[i], b.keys[i], b.dbs[i])
				case b.dbs[i] >= 0:
					what = fmt.Sprintf("%s of key %q (db %d)", b.cmd[i], b.keys[i], b.dbs[i])
				}
				r.fail(fmt.Errorf("%s refused by %s: %s", what, r.rc.addr, bytes.TrimSpace(line[1:])))
			default:
				r.fail(fmt.Errorf("unexpected reply %q from %s", bytes.TrimSpace(line), r.rc.addr))
			}
		}
	}
}

// add records one command sent, whose reply acknowledges keys keys.
func (r *restorer) add(cmd, key string, db, keys int) error {
	if r.cur == nil {
		r.cur = &pbatch{keys: make([]string, 0, r.batchMax), dbs: make([]int, 0, r.batchMax),
			cnt: make([]int, 0, r.batchMax), cmd: make([]string, 0, r.batchMax)}
	}
	r.cur.n++
	r.cur.cmd = append(r.cur.cmd, cmd)
	r.cur.keys = append(r.cur.keys, key)
	r.cur.dbs = append(r.cur.dbs, db)
	r.cur.cnt = append(r.cur.cnt, keys)
	if r.cur.n >= r.batchMax {
		return r.flush()
	}
	return nil
}

func (r *restorer) flush() error {
	if err := r.rc.bw.Flush(); err != nil {
		return fmt.Errorf("sending RESTORE commands to %s: %w", r.rc.addr, err)
	}
	if r.cur != nil && r.cur.n > 0 {
		r.ch <- r.cur
		r.cur = nil
	}
	return r.failed()
}

// plainString returns the bytes of a string value encoded without LZF
// (the usual case: counters, ids, states), decoding integer encodings.
func plainString(raw []byte, scratch []byte) ([]byte, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	c := raw[0]
	switch c >> 6 {
	case len6:
		if int(c&0x3f) == len(raw)-1 {
			return raw[1:], true
		}
	case len14:
		if len(raw) >= 2 && int(c&0x3f)<<8|int(raw[1]) == len(raw)-2 {
			return raw[2:], true
		}
	case encoded:
		switch {
		case c&0x3f == encInt8 && len(raw) == 2:
			return strconv.AppendInt(scratch, int64(int8(raw[1])), 10), true
		case c&0x3f == encInt16 && len(raw) == 3:
			return strconv.AppendInt(scratch, int64(int16(uint16(raw[1])|uint16(raw[2])<<8)), 10), true
		case c&0x3f == encInt32 && len(raw) == 5:
			return strconv.AppendInt(scratch, int64(int32(uint32(raw[1])|uint32(raw[2])<<8|uint32(raw[3])<<16|uint32(raw[4])<<24)), 10), true
		}
	}
	return nil, false
}

// set queues SET key value PXAT ms for a plain string with an expiry:
// the same data as RESTORE, cheaper for the server to apply.
func (r *restorer) set(e *Entry, val []byte) error {
	b := append(r.scratch[:0], "*5\r\n$3\r\nSET\r\n"...)
	b = appendBulkHeader(b, len(e.Key))
	b = append(b, e.Key...)
	b = append(b, '\r', '\n')
	b = appendBulkHeader(b, len(val))
	b = append(b, val...)
	b = append(b, "\r\n$4\r\nPXAT\r\n"...)
	var tb [20]byte
	ttl := strconv.AppendInt(tb[:0], e.ExpireAt, 10)
	b = appendBulkHeader(b, len(ttl))
	b = append(b, ttl...)
	b = append(b, '\r', '\n')
	r.scratch = b
	if _, err := r.rc.bw.Write(b); err != nil {
		return err
	}
	return r.add("SET", string(e.Key), e.DB, 1)
}

// queueMSET adds a plain string without an expiry to the MSET being
// gathered, and sends it when full.
func (r *restorer) queueMSET(e *Entry, val []byte) error {
	if r.msetKeys == 0 {
		r.msetFirst = string(e.Key)
	}
	r.mset = appendBulkHeader(r.mset, len(e.Key))
	r.mset = append(r.mset, e.Key...)
	r.mset = append(r.mset, '\r', '\n')
	r.mset = appendBulkHeader(r.mset, len(val))
	r.mset = append(r.mset, val...)
	r.mset = append(r.mset, '\r', '\n')
	r.msetKeys++
	if r.msetKeys >= msetMaxKeys || len(r.mset) >= msetMaxBytes {
		return r.sendMSET()
	}
	return nil
}

// sendMSET sends the MSET gathered so far, if any (its keys are all in
// the selected database r.db).
func (r *restorer) sendMSET() error {
	if r.msetKeys == 0 {
		return nil
	}
	w := r.rc.bw
	b := append(r.scratch[:0], '*')
	b = strconv.AppendInt(b, int64(1+2*r.msetKeys), 10)
	b = append(b, "\r\n$4\r\nMSET\r\n"...)
	r.scratch = b
	if _, err := w.Write(b); err != nil {
		return err
	}
	if _, err := w.Write(r.mset); err != nil {
		return err
	}
	n := r.msetKeys
	r.mset, r.msetKeys = r.mset[:0], 0
	if cap(r.mset) > 2*msetMaxBytes { // one huge value: do not keep its buffer
		r.mset = nil
	}
	return r.add("MSET", r.msetFirst, r.db, n)
}

// restore queues RESTORE key ttl payload REPLACE [ABSTTL] for one entry,
// or for a plain string MSET (no expiry) or SET … PXAT (when the server
// has it).
func (r *restorer) restore(e *Entry) error {
	if e.DB != r.db {
		if err := r.sendMSET(); err != nil {
			return err
		}
		if _, err := r.rc.bw.Write(appendCmd(r.scratch[:0], "SELECT", strconv.Itoa(e.DB))); err != nil {
			return err
		}
		r.db = e.DB
		if err := r.add("SELECT", "", -e.DB-1, 0); err != nil {
			return err
		}
	}
	if e.Type == TypeString && (e.ExpireAt == 0 || r.setPXAT) {
		var num [24]byte
		if val, ok := plainString(e.Value, num[:0]); ok {
			if e.ExpireAt == 0 {
				return r.queueMSET(e, val)
			}
			if err := r.sendMSET(); err != nil {
				return err
			}
			return r.set(e, val)
		}
	}
	if err := r.sendMSET(); err != nil {
		return err
	}
	b := r.scratch[:0]
	if e.ExpireAt > 0 {
		b = append(b, "*6\r\n$7\r\nRESTORE\r\n"...)
	} else {
		b = append(b, "*5\r\n$7\r\nRESTORE\r\n"...)
	}
	b = appendBulkHeader(b, len(e.Key))
	b = append(b, e.Key...)
	b = append(b, '\r', '\n')
	var tb [20]byte
	ttl := strconv.AppendInt(tb[:0], e.ExpireAt, 10)
	b = appendBulkHeader(b, len(ttl))
	b = append(b, ttl...)
	b = append(b, '\r', '\n')
	b = appendBulkHeader(b, 1+len(e.Value)+10)
	r.scratch = b
	w := r.rc.bw
	if _, err := w.Write(b); err != nil {
		return err
	}
	var tail [12]byte
	tail[0] = e.Type
	crc := crc64(0, tail[:1])
	crc = crc64(crc, e.Value)
	tail[0], tail[1] = byte(r.version), byte(r.version>>8)
	crc = crc64(crc, tail[:2])
	putLE64(tail[2:10], crc)
	tail[10], tail[11] = '\r', '\n'
	if err := w.WriteByte(e.Type); err != nil {
		return err
	}
	if _, err := w.Write(e.Value); err != nil {
		return err
	}
	if _, err := w.Write(tail[:]); err != nil {
		return err
	}
	if e.ExpireAt > 0 {
		_, err := w.WriteString("$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n")
		if err != nil {
			return err
		}
	} else if _, err := w.WriteString("$7\r\nREPLACE\r\n"); err != nil {
		return err
	}
	return r.add("RESTORE", string(e.Key), e.DB, 1)
}

func appendBulkHeader(b []byte, n int) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// finish sends what is left and waits for every reply.
func (r *restorer) finish() (map[int]int64, error) {
	err := r.sendMSET()
	if err == nil {
		err = r.flush()
	}
	close(r.ch)
	r.wg.Wait()
	if err == nil {
		err = r.failed()
	}
	return r.ok, err
}
