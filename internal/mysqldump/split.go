package mysqldump

import (
	"bytes"
	"errors"
	"io"
)

// ErrTruncated is returned by the statement reader when a stream ends in
// the middle of a statement, string or comment.
var ErrTruncated = errors.New("SQL stream ends in the middle of a statement (truncated)")

// stmtReader splits a SQL script into statements the way the mysql client
// does: ';' (or the current DELIMITER) outside quotes and comments ends a
// statement; DELIMITER lines are client commands and are consumed.
// Statements are returned without their delimiter; a returned slice is
// valid until the next call.
type stmtReader struct {
	r       io.Reader
	buf     []byte
	start   int // first byte of the current statement
	pos     int // scan position
	eof     bool
	delim   []byte
	content bool // the current statement has something besides comments and space
	state   byte
	maxSize int
}

// scanner states
const (
	stNormal byte = iota
	stSingle
	stDouble
	stBacktick
	stLineComment
	stBlockComment
)

func newStmtReader(r io.Reader, maxSize int) *stmtReader {
	return &stmtReader{r: r, buf: make([]byte, 0, 256<<10), delim: []byte{';'}, maxSize: maxSize}
}

// fill reads more input, keeping the current statement; false at EOF.
func (s *stmtReader) fill() (bool, error) {
	if s.eof {
		return false, nil
	}
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:])
		s.pos -= s.start
		s.start = 0
		s.buf = s.buf[:n]
	}
	if len(s.buf) == cap(s.buf) {
		if s.maxSize > 0 && len(s.buf) > s.maxSize {
			return false, errors.New("a statement is longer than the largest allowed packet; the file is corrupt")
		}
		// A quarter more (at least 256 KiB), not twice: a statement
		// holding one 8 MB row then leaves at most 2 MB unused per
		// worker, not 8; the extra copies cost far less than the network.
		nb := make([]byte, len(s.buf), cap(s.buf)+max(cap(s.buf)/4, 256<<10))
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err == io.EOF {
		s.eof = true
		return n > 0, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// special marks the bytes the normal state must look at.
var special = func() (t [256]bool) {
	for _, c := range []byte("'\"`#-/\n") {
		t[c] = true
	}
	return t
}()

// Next returns the next statement, or io.EOF after the last one. A stream
// that ends inside a statement gives ErrTruncated.
func (s *stmtReader) Next() ([]byte, error) {
	for {
		if s.pos >= len(s.buf) {
			more, err := s.fill()
			if err != nil {
				return nil, err
			}
			if !more {
				return s.end()
			}
			continue
		}
		need, stmt, ok := s.scan()
		if ok {
			return stmt, nil
		}
		if need {
			more, err := s.fill()
			if err != nil {
				return nil, err
			}
			if !more {
				if s.state == stNormal || s.state == stLineComment {
					continue // s.eof is set: the scan decides without lookahead now
				}
				return nil, ErrTruncated
			}
		}
	}
}

func (s *stmtReader) end() ([]byte, error) {
	if s.state != stNormal && s.state != stLineComment {
		return nil, ErrTruncated
	}
	if s.content {
		return nil, ErrTruncated
	}
	return nil, io.EOF
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'
}

// scan advances over buffered bytes. It returns a statement (ok), or
// need=true when it needs more input to decide, or neither when the
// buffer is used up.
func (s *stmtReader) scan() (need bool, stmt []byte, ok bool) {
	b := s.buf
	d0 := s.delim[0]
	for s.pos < len(b) {
		switch s.state {
		case stSingle, stDouble:
			q := byte('\'')
			if s.state == stDouble {
				q = '"'
			}
			for s.pos < len(b) {
				c := b[s.pos]
				if c == '\\' {
					if s.pos+1 >= len(b) {
						return true, nil, false
					}
					s.pos += 2
					continue
				}
				if c == q {
					if s.pos+1 >= len(b) && !s.eof {
						return true, nil, false // '' would continue the string
					}
					if s.pos+1 < len(b) && b[s.pos+1] == q {
						s.pos += 2
						continue
					}
					s.pos++
					s.state = stNormal
					break
				}
				s.pos++
			}
		case stBacktick:
			i := bytes.IndexByte(b[s.pos:], '`')
			if i < 0 {
				s.pos = len(b)
				return false, nil, false
			}
			s.pos += i + 1
			s.state = stNormal
		case stLineComment:
			i := bytes.IndexByte(b[s.pos:], '\n')
			if i < 0 {
				s.pos = len(b)
				return false, nil, false
			}
			s.pos += i + 1
			s.state = stNormal
		case stBlockComment:
			i := bytes.Index(b[s.pos:], []byte("*/"))
			if i < 0 {
				if s.pos < len(b)-1 {
					s.pos = len(b) - 1
				}
				return true, nil, false
			}
			s.pos += i + 2
			s.state = stNormal
		default:
			c := b[s.pos]
			if c == d0 {
				if len(b)-s.pos < len(s.delim) && !s.eof {
					return true, nil, false
				}
				if bytes.HasPrefix(b[s.pos:], s.delim) {
					stmt := b[s.start:s.pos]
					s.pos += len(s.delim)
					s.start = s.pos
					had := s.content
					s.content = false
					if had {
						return false, stmt, true
					}
					continue
				}
			}
			if !s.content && !isSpace(c) && (c == 'D' || c == 'd') {
				// DELIMITER is a client command, recognized at a statement's start.
				nl := bytes.IndexByte(b[s.pos:], '\n')
				if nl < 0 && !s.eof {
					return true, nil, false
				}
				line := b[s.pos:]
				if nl >= 0 {
					line = b[s.pos : s.pos+nl]
				}
				if len(line) > 10 && bytes.EqualFold(line[:10], []byte("DELIMITER ")) {
					d := bytes.TrimSpace(line[10:])
					if len(d) > 0 {
						s.delim = append([]byte(nil), d...)
						d0 = s.delim[0]
						s.pos += len(line)
						s.start = s.pos
						continue
					}
				}
			}
			if !special[c] {
				if !isSpace(c) {
					s.content = true
				}
				s.pos++
				continue
			}
			switch c {
			case '\'':
				s.state, s.content = stSingle, true
			case '"':
				s.state, s.content = stDouble, true
			case '`':
				s.state, s.content = stBacktick, true
			case '#':
				s.state = stLineComment
			case '-', '/':
				if s.pos+2 >= len(b) && !s.eof {
					return true, nil, false
				}
				if c == '-' && s.pos+2 < len(b) && b[s.pos+1] == '-' && isSpace(b[s.pos+2]) {
					s.state = stLineComment
					s.pos += 2
					continue
				}
				if c == '/' && s.pos+1 < len(b) && b[s.pos+1] == '*' {
					if s.pos+2 < len(b) && b[s.pos+2] == '!' {
						s.content = true // executable comment: part of the statement
					}
					s.state = stBlockComment
					s.pos += 2
					continue
				}
				s.content = true
			}
			s.pos++
		}
	}
	return false, nil, false
}
