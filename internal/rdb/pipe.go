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
}

type pbatch struct {
	n    int
	keys []string
	dbs  []int // -(db+1) for a SELECT
}

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
					r.ok[b.dbs[i]]++
					r.mu.Unlock()
				}
			case len(line) > 0 && line[0] == '-':
				what := "SELECT " + strconv.Itoa(-b.dbs[i]-1)
				if b.dbs[i] >= 0 {
					what = fmt.Sprintf("RESTORE of key %q (db %d)", b.keys[i], b.dbs[i])
				}
				r.fail(fmt.Errorf("%s refused by %s: %s", what, r.rc.addr, bytes.TrimSpace(line[1:])))
			default:
				r.fail(fmt.Errorf("unexpected reply %q from %s", bytes.TrimSpace(line), r.rc.addr))
			}
		}
	}
}

func (r *restorer) add(key string, db int) error {
	if r.cur == nil {
		r.cur = &pbatch{keys: make([]string, 0, r.batchMax), dbs: make([]int, 0, r.batchMax)}
	}
	r.cur.n++
	r.cur.keys = append(r.cur.keys, key)
	r.cur.dbs = append(r.cur.dbs, db)
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

// set queues SET key value [PXAT ms] for a plain string: the same data as
// RESTORE, cheaper for the server to apply.
func (r *restorer) set(e *Entry, val []byte) error {
	b := r.scratch[:0]
	if e.ExpireAt > 0 {
		b = append(b, "*5\r\n$3\r\nSET\r\n"...)
	} else {
		b = append(b, "*3\r\n$3\r\nSET\r\n"...)
	}
	b = appendBulkHeader(b, len(e.Key))
	b = append(b, e.Key...)
	b = append(b, '\r', '\n')
	b = appendBulkHeader(b, len(val))
	b = append(b, val...)
	b = append(b, '\r', '\n')
	if e.ExpireAt > 0 {
		b = append(b, "$4\r\nPXAT\r\n"...)
		var tb [20]byte
		ttl := strconv.AppendInt(tb[:0], e.ExpireAt, 10)
		b = appendBulkHeader(b, len(ttl))
		b = append(b, ttl...)
		b = append(b, '\r', '\n')
	}
	r.scratch = b
	if _, err := r.rc.bw.Write(b); err != nil {
		return err
	}
	return r.add(string(e.Key), e.DB)
}

// restore queues RESTORE key ttl payload REPLACE [ABSTTL] for one entry
// (or SET for a plain string when the server has SET PXAT).
func (r *restorer) restore(e *Entry) error {
	if e.DB != r.db {
		if _, err := r.rc.bw.Write(appendCmd(r.scratch[:0], "SELECT", strconv.Itoa(e.DB))); err != nil {
			return err
		}
		r.db = e.DB
		if err := r.add("", -e.DB-1); err != nil {
			return err
		}
	}
	if e.Type == TypeString && r.setPXAT {
		var num [24]byte
		if val, ok := plainString(e.Value, num[:0]); ok {
			return r.set(e, val)
		}
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
	return r.add(string(e.Key), e.DB)
}

func appendBulkHeader(b []byte, n int) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// finish sends what is left and waits for every reply.
func (r *restorer) finish() (map[int]int64, error) {
	err := r.flush()
	close(r.ch)
	r.wg.Wait()
	if err == nil {
		err = r.failed()
	}
	return r.ok, err
}
