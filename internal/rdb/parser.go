package rdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Kind says what an Entry is.
type Kind int

// Entry kinds, one per RDB opcode group.
const (
	KindKey Kind = iota
	KindAux
	KindSelectDB
	KindResizeDB
	KindFunction
	KindModuleAux
	KindSlotInfo
)

// Entry is one item of an RDB stream. It and its slices are reused: they
// are valid until the next call to Next.
type Entry struct {
	Kind     Kind
	Offset   int64 // offset of the entry's first byte in the stream
	DB       int   // current database
	Key      []byte
	Type     byte   // value type (KindKey)
	ExpireAt int64  // absolute expiry in Unix ms, 0 when the key does not expire
	Value    []byte // value encoding without the type byte (only when the parser keeps values)
	AuxKey   string
	AuxValue string
	Raw      []byte // non-key entries: opcode and payload, verbatim
}

// Parser reads an RDB stream entry by entry, verifying its structure and,
// at the end, its CRC64. Memory use is bounded by the largest single
// value (and only when values are kept).
type Parser struct {
	br         *byteReader
	keepValues bool
	version    int
	db         int
	e          Entry
	done       bool
	checksum   uint64
	Aux        map[string]string // auxiliary fields seen so far

	// Strict decodes and checks every value (strict.go) instead of
	// skipping its bytes: what passes can be restored without redis-server
	// refusing it half-way or crashing on it later.
	Strict bool
	// ModuleAux counts module auxiliary data entries (opcode 0xF7): only
	// a server with the same modules loaded can load such a file.
	ModuleAux int

	scratch []byte // strict: the string being checked
	elems   []elem // strict: the entries of the blob being checked
	seen    uniq   // strict: the members of the value being checked
	text    []byte // strict: one blob entry as text
}

// NewParser returns a parser over r. With keepValues, every key entry
// carries its raw value encoding (what RESTORE and DUMP payloads are
// built from); without it values are skipped, not copied.
func NewParser(r io.Reader, keepValues bool) *Parser {
	return &Parser{br: newByteReader(r), keepValues: keepValues, Aux: map[string]string{}}
}

// Offset is the number of bytes consumed so far.
func (p *Parser) Offset() int64 { return p.br.offset() }

// Version is the RDB version from the header (after Header).
func (p *Parser) Version() int { return p.version }

// Checksum is the CRC64 stored at the end (after Next returned io.EOF);
// 0 means the writer disabled checksums.
func (p *Parser) Checksum() uint64 { return p.checksum }

// Header reads and checks the "REDIS%04d" magic.
func (p *Parser) Header() (int, error) {
	h, err := p.br.readN(9)
	if err != nil {
		return 0, p.fail(0, err)
	}
	if !bytes.Equal(h[:5], []byte("REDIS")) {
		return 0, p.fail(0, fmt.Errorf("%w: no REDIS magic (not an RDB file)", ErrFormat))
	}
	v := 0
	for _, c := range h[5:] {
		if c < '0' || c > '9' {
			return 0, p.fail(5, fmt.Errorf("%w: bad version %q", ErrFormat, h[5:]))
		}
		v = v*10 + int(c-'0')
	}
	if v < MinVersion || v > MaxVersion {
		return 0, p.fail(5, fmt.Errorf("%w: RDB version %d not supported (this tool reads %d to %d)", ErrFormat, v, MinVersion, MaxVersion))
	}
	p.version = v
	return v, nil
}

// OffsetError reports where in the stream parsing failed.
type OffsetError struct {
	Offset int64
	Err    error
}

func (e *OffsetError) Error() string { return fmt.Sprintf("at offset %d: %v", e.Offset, e.Err) }
func (e *OffsetError) Unwrap() error { return e.Err }

func (p *Parser) fail(off int64, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%w: truncated (stream ends early)", ErrFormat)
	}
	return &OffsetError{Offset: off, Err: err}
}

// Next returns the next entry, or io.EOF once the EOF opcode has been read
// and the CRC64 verified.
func (p *Parser) Next() (*Entry, error) {
	if p.done {
		return nil, io.EOF
	}
	if p.version == 0 {
		if _, err := p.Header(); err != nil {
			return nil, err
		}
	}
	b := p.br
	e := &p.e
	e.ExpireAt = 0
	start := b.offset()
	for {
		off := b.offset()
		op, err := b.readByte()
		if err != nil {
			return nil, p.fail(off, err)
		}
		var kerr error
		switch op {
		case opExpireTimeMs:
			var t []byte
			if t, kerr = b.readN(8); kerr == nil {
				e.ExpireAt = int64(le64(t))
				continue
			}
		case opExpireTime:
			var t []byte
			if t, kerr = b.readN(4); kerr == nil {
				e.ExpireAt = int64(int32(uint32(t[0])|uint32(t[1])<<8|uint32(t[2])<<16|uint32(t[3])<<24)) * 1000
				continue
			}
		case opIdle:
			if _, kerr = b.readPlainLen(); kerr == nil {
				continue
			}
		case opFreq:
			if _, kerr = b.readByte(); kerr == nil {
				continue
			}
		case opEOF:
			sum := b.sum()
			t, err := b.readN(8)
			if err != nil {
				return nil, p.fail(b.offset(), err)
			}
			p.checksum = le64(t)
			if p.checksum != 0 && p.checksum != sum {
				return nil, p.fail(off+1, fmt.Errorf("%w: CRC64 mismatch (stored %016x, computed %016x)", ErrFormat, p.checksum, sum))
			}
			p.done = true
			return nil, io.EOF
		case opSelectDB, opResizeDB, opAux, opFunction, opFunction2, opModuleAux, opSlotInfo:
			if e.ExpireAt != 0 {
				return nil, p.fail(off, fmt.Errorf("%w: expiry not followed by a key", ErrFormat))
			}
			if err := p.meta(op); err != nil {
				return nil, p.fail(off, err)
			}
			e.Offset = off
			return e, nil
		default:
			if op == TypeModule {
				return nil, p.fail(off, fmt.Errorf("%w: a module value in the pre-release format (type 6), which no released Redis loads", ErrFormat))
			}
			if !knownType(op) {
				return nil, p.fail(off, fmt.Errorf("%w: unknown opcode or value type %d", ErrFormat, op))
			}
			if err := p.key(op); err != nil {
				return nil, p.fail(off, err)
			}
			e.Offset = start
			return e, nil
		}
		return nil, p.fail(off, kerr)
	}
}

// meta reads a non-key opcode's payload, capturing it verbatim in Raw.
func (p *Parser) meta(op byte) error {
	b, e := p.br, &p.e
	b.startCaptureAt(b.r-1, e.Raw)
	var err error
	switch op {
	case opSelectDB:
		e.Kind = KindSelectDB
		var n uint64
		if n, err = b.readPlainLen(); err == nil {
			if n > 1<<20 {
				err = fmt.Errorf("%w: database number %d", ErrFormat, n)
			}
			p.db = int(n)
		}
	case opResizeDB:
		e.Kind = KindResizeDB
		if _, err = b.readPlainLen(); err == nil {
			_, err = b.readPlainLen()
		}
	case opSlotInfo:
		e.Kind = KindSlotInfo
		for i := 0; i < 3 && err == nil; i++ {
			_, err = b.readPlainLen()
		}
	case opAux:
		e.Kind = KindAux
		var k, v []byte
		if k, err = b.readString(nil); err == nil {
			if v, err = b.readString(nil); err == nil {
				e.AuxKey, e.AuxValue = string(k), string(v)
				if len(p.Aux) < 256 {
					p.Aux[e.AuxKey] = e.AuxValue
				}
			}
		}
	case opFunction2:
		e.Kind = KindFunction
		err = b.skipString()
	case opFunction: // 7.0 release candidates: name, engine, [desc], blob
		e.Kind = KindFunction
		if err = b.skipString(); err == nil {
			if err = b.skipString(); err == nil {
				var has uint64
				if has, err = b.readPlainLen(); err == nil && has != 0 {
					err = b.skipString()
				}
				if err == nil {
					err = b.skipString()
				}
			}
		}
	case opModuleAux:
		e.Kind = KindModuleAux
		p.ModuleAux++
		for i := 0; i < 3 && err == nil; i++ {
			_, err = b.readPlainLen()
		}
		if err == nil {
			err = p.skipModuleOpcodes()
		}
	}
	raw, cerr := b.endCapture()
	e.Raw = raw
	e.DB = p.db
	if err == nil {
		err = cerr
	}
	return err
}

// key reads a key entry of value type t.
func (p *Parser) key(t byte) error {
	b, e := p.br, &p.e
	e.Kind, e.Type, e.DB = KindKey, t, p.db
	var err error
	if e.Key, err = b.readString(e.Key[:0]); err != nil {
		return err
	}
	value := p.skipValue
	if p.Strict {
		value = p.checkValue
	}
	if !p.keepValues {
		e.Value = e.Value[:0]
		return p.keyErr(value(t))
	}
	b.startCaptureAt(b.r, e.Value)
	err = value(t)
	v, cerr := b.endCapture()
	e.Value = v
	if err == nil {
		err = cerr
	}
	return p.keyErr(err)
}

// keyErr names the key (db, name, type) whose value err is about.
func (p *Parser) keyErr(err error) error {
	if err == nil {
		return nil
	}
	e := &p.e
	return fmt.Errorf("key %s in db %d (%s, encoding %d): %w", quoteShort(e.Key), e.DB, TypeName(e.Type), e.Type, err)
}
