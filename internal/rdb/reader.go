package rdb

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrFormat is wrapped by every error about bytes that are not a valid
// RDB stream (bad magic, unknown opcode or type, short read, CRC mismatch).
var ErrFormat = errors.New("invalid RDB data")

// MaxValueBytes bounds one captured value (key, aux field or value
// encoding); Redis's own proto-max-bulk-len default is 512 MiB.
var MaxValueBytes = 512 << 20

// byteReader is a buffered reader that knows its absolute offset, keeps a
// running CRC64 of everything consumed, and can capture the exact bytes of
// a region (a value encoding) while it is parsed. Allocation follows the
// bytes that actually arrive, never a length read from the stream.
type byteReader struct {
	rd     io.Reader
	buf    []byte
	r, w   int
	off    int64 // absolute offset of buf[0]
	crc    uint64
	crcPos int
	capOn  bool
	capPos int
	capBuf []byte
	lzf    []byte // compressed bytes of the LZF string being decoded
	err    error
}

func newByteReader(rd io.Reader) *byteReader {
	return &byteReader{rd: rd, buf: make([]byte, 256<<10)}
}

func (b *byteReader) offset() int64 { return b.off + int64(b.r) }

// fill makes at least n (≤ len(buf)) unread bytes available.
func (b *byteReader) fill(n int) error {
	for b.w-b.r < n {
		if b.err != nil {
			return b.err
		}
		if b.r > 0 && (b.w == len(b.buf) || len(b.buf)-b.r < n) {
			b.crc = crc64(b.crc, b.buf[b.crcPos:b.r])
			b.crcPos = 0
			if b.capOn {
				if err := b.appendCap(b.buf[b.capPos:b.r]); err != nil {
					return err
				}
				b.capPos = 0
			}
			copy(b.buf, b.buf[b.r:b.w])
			b.off += int64(b.r)
			b.w -= b.r
			b.r = 0
		}
		m, err := b.rd.Read(b.buf[b.w:])
		b.w += m
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
		}
	}
	return nil
}

func (b *byteReader) appendCap(p []byte) error {
	if len(b.capBuf)+len(p) > MaxValueBytes {
		return fmt.Errorf("%w: value larger than %d bytes", ErrFormat, MaxValueBytes)
	}
	b.capBuf = append(b.capBuf, p...)
	return nil
}

func (b *byteReader) readByte() (byte, error) {
	if b.r == b.w {
		if err := b.fill(1); err != nil {
			return 0, err
		}
	}
	c := b.buf[b.r]
	b.r++
	return c, nil
}

// readN returns the next n bytes (n ≤ 64), valid until the next call.
func (b *byteReader) readN(n int) ([]byte, error) {
	if err := b.fill(n); err != nil {
		return nil, err
	}
	p := b.buf[b.r : b.r+n]
	b.r += n
	return p, nil
}

// skip consumes n bytes (they still count for CRC and capture).
func (b *byteReader) skip(n uint64) error {
	for n > 0 {
		if b.r == b.w {
			if err := b.fill(1); err != nil {
				return err
			}
		}
		k := uint64(b.w - b.r)
		if k > n {
			k = n
		}
		b.r += int(k)
		n -= k
	}
	return nil
}

// read appends the next n bytes to dst, growing it only as bytes arrive.
func (b *byteReader) read(dst []byte, n uint64) ([]byte, error) {
	if n > uint64(MaxValueBytes) {
		return dst, fmt.Errorf("%w: length %d larger than %d bytes", ErrFormat, n, MaxValueBytes)
	}
	for n > 0 {
		if b.r == b.w {
			if err := b.fill(1); err != nil {
				return dst, err
			}
		}
		k := uint64(b.w - b.r)
		if k > n {
			k = n
		}
		dst = append(dst, b.buf[b.r:b.r+int(k)]...)
		b.r += int(k)
		n -= k
	}
	return dst, nil
}

// startCaptureAt begins recording consumed bytes from buffer position pos
// (≤ r, still in the buffer) into a buffer that reuses dst's storage.
func (b *byteReader) startCaptureAt(pos int, dst []byte) {
	b.capOn, b.capPos, b.capBuf = true, pos, dst[:0]
}

// endCapture stops recording and returns the bytes consumed since startCapture.
func (b *byteReader) endCapture() ([]byte, error) {
	b.capOn = false
	if err := b.appendCap(b.buf[b.capPos:b.r]); err != nil {
		return nil, err
	}
	return b.capBuf, nil
}

// sum returns the CRC64 of everything consumed so far.
func (b *byteReader) sum() uint64 {
	b.crc = crc64(b.crc, b.buf[b.crcPos:b.r])
	b.crcPos = b.r
	return b.crc
}

// Length encoding: the two high bits of the first byte.
const (
	len6     = 0
	len14    = 1
	len32    = 0x80
	len64    = 0x81
	encoded  = 3
	encInt8  = 0
	encInt16 = 1
	encInt32 = 2
	encLZF   = 3
)

// readLen reads a length; isEnc reports a special string encoding whose
// kind is returned as the length.
func (b *byteReader) readLen() (n uint64, isEnc bool, err error) {
	c, err := b.readByte()
	if err != nil {
		return 0, false, err
	}
	switch c >> 6 {
	case len6:
		return uint64(c & 0x3f), false, nil
	case len14:
		d, err := b.readByte()
		return uint64(c&0x3f)<<8 | uint64(d), false, err
	case encoded:
		return uint64(c & 0x3f), true, nil
	}
	switch c {
	case len32:
		p, err := b.readN(4)
		if err != nil {
			return 0, false, err
		}
		return uint64(p[0])<<24 | uint64(p[1])<<16 | uint64(p[2])<<8 | uint64(p[3]), false, nil
	case len64:
		p, err := b.readN(8)
		if err != nil {
			return 0, false, err
		}
		var v uint64
		for _, x := range p {
			v = v<<8 | uint64(x)
		}
		return v, false, nil
	}
	return 0, false, fmt.Errorf("%w: unknown length encoding 0x%02x", ErrFormat, c)
}

// readPlainLen reads a length. As in Redis (rdbLoadLen without an
// encoding flag), the special-encoding form reads as its low 6 bits.
func (b *byteReader) readPlainLen() (uint64, error) {
	n, _, err := b.readLen()
	return n, err
}

// skipString consumes one RDB string of any encoding.
func (b *byteReader) skipString() error {
	_, err := b.stringOrSkip(nil, false)
	return err
}

// readString returns one RDB string decoded (integers as decimal text,
// LZF decompressed), appended to dst.
func (b *byteReader) readString(dst []byte) ([]byte, error) {
	return b.stringOrSkip(dst, true)
}

func (b *byteReader) stringOrSkip(dst []byte, keep bool) ([]byte, error) {
	n, enc, err := b.readLen()
	if err != nil {
		return dst, err
	}
	if !enc {
		if !keep {
			return dst, b.skip(n)
		}
		return b.read(dst, n)
	}
	switch n {
	case encInt8, encInt16, encInt32:
		size := 1 << n
		p, err := b.readN(size)
		if err != nil || !keep {
			return dst, err
		}
		var v int64
		switch size {
		case 1:
			v = int64(int8(p[0]))
		case 2:
			v = int64(int16(uint16(p[0]) | uint16(p[1])<<8))
		default:
			v = int64(int32(uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24))
		}
		return strconv.AppendInt(dst, v, 10), nil
	case encLZF:
		clen, err := b.readPlainLen()
		if err != nil {
			return dst, err
		}
		ulen, err := b.readPlainLen()
		if err != nil {
			return dst, err
		}
		if clen == 0 || ulen == 0 {
			return dst, fmt.Errorf("%w: LZF string with a length of 0 (compressed %d, plain %d)", ErrFormat, clen, ulen)
		}
		if !keep {
			return dst, b.skip(clen)
		}
		if ulen > uint64(MaxValueBytes) {
			return dst, fmt.Errorf("%w: LZF length %d too large", ErrFormat, ulen)
		}
		b.lzf, err = b.read(b.lzf[:0], clen)
		if err != nil {
			return dst, err
		}
		return lzfDecompress(dst, b.lzf, int(ulen))
	}
	return dst, fmt.Errorf("%w: unknown string encoding %d", ErrFormat, n)
}
