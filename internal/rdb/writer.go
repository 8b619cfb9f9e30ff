package rdb

import (
	"bufio"
	"fmt"
	"io"
)

// Writer writes a valid RDB stream: header, auxiliary fields, databases
// and keys (from raw value encodings), EOF opcode and CRC64.
type Writer struct {
	bw      *bufio.Writer
	crc     uint64
	n       int64
	err     error
	tmp     [16]byte
	db      int
	version int
}

// NewWriter writes the header for RDB version (MinVersion..MaxVersion).
func NewWriter(w io.Writer, version int) (*Writer, error) {
	if version < MinVersion || version > MaxVersion {
		return nil, fmt.Errorf("rdb: cannot write RDB version %d", version)
	}
	wr := &Writer{bw: bufio.NewWriterSize(w, 256<<10), db: -1, version: version}
	wr.write(fmt.Appendf(nil, "REDIS%04d", version))
	return wr, wr.err
}

func (w *Writer) write(p []byte) {
	if w.err != nil {
		return
	}
	w.crc = crc64(w.crc, p)
	n, err := w.bw.Write(p)
	w.n += int64(n)
	w.err = err
}

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

func appendLen(b []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return append(b, byte(n>>8)|0x40, byte(n))
	case n <= 0xffffffff:
		return append(b, len32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	b = append(b, len64)
	for i := 7; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

func (w *Writer) writeString(s []byte) {
	w.write(appendLen(w.tmp[:0], uint64(len(s))))
	w.write(s)
}

// Aux writes an auxiliary field.
func (w *Writer) Aux(key, value string) error {
	w.write([]byte{opAux})
	w.writeString([]byte(key))
	w.writeString([]byte(value))
	return w.err
}

// SelectDB switches to database db, with size hints for the loader
// (0 when unknown).
func (w *Writer) SelectDB(db int, keys, expires uint64) error {
	if db == w.db {
		return w.err
	}
	w.db = db
	w.write(appendLen([]byte{opSelectDB}, uint64(db)))
	w.write(appendLen(appendLen([]byte{opResizeDB}, keys), expires))
	return w.err
}

// Key writes one key with its value type and raw value encoding;
// expireAt is an absolute Unix time in ms (0: no expiry).
func (w *Writer) Key(key []byte, typ byte, value []byte, expireAt int64) error {
	if expireAt != 0 { // a negative expiry is kept: it is in the past
		b := append(w.tmp[:0], opExpireTimeMs, 0, 0, 0, 0, 0, 0, 0, 0)
		putLE64(b[1:], uint64(expireAt))
		w.write(b)
	}
	w.write([]byte{typ})
	w.writeString(key)
	w.write(value)
	return w.err
}

// Raw writes bytes verbatim (a non-key entry read by a Parser).
func (w *Writer) Raw(p []byte) error {
	w.write(p)
	return w.err
}

// Close writes the EOF opcode and the CRC64, and flushes. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	w.write([]byte{opEOF})
	if w.err != nil {
		return w.err
	}
	var sum [8]byte
	putLE64(sum[:], w.crc)
	if _, err := w.bw.Write(sum[:]); err != nil {
		return err
	}
	w.n += 8
	return w.bw.Flush()
}

// SplitDump checks a DUMP payload (type byte, value encoding, 2-byte RDB
// version, CRC64) and returns its parts. The value is a sub-slice of payload.
func SplitDump(payload []byte) (typ byte, value []byte, version int, err error) {
	if len(payload) < 11 {
		return 0, nil, 0, fmt.Errorf("%w: DUMP payload of %d bytes is too short", ErrFormat, len(payload))
	}
	n := len(payload)
	if sum := le64(payload[n-8:]); sum != 0 && sum != crc64(0, payload[:n-8]) {
		return 0, nil, 0, fmt.Errorf("%w: DUMP payload CRC64 mismatch", ErrFormat)
	}
	version = int(payload[n-10]) | int(payload[n-9])<<8
	return payload[0], payload[1 : n-10], version, nil
}

// AppendDump appends the DUMP/RESTORE payload of a value to dst.
func AppendDump(dst []byte, typ byte, value []byte, version int) []byte {
	start := len(dst)
	dst = append(dst, typ)
	dst = append(dst, value...)
	dst = append(dst, byte(version), byte(version>>8))
	var sum [8]byte
	putLE64(sum[:], crc64(0, dst[start:]))
	return append(dst, sum[:]...)
}

// VersionForServer maps a redis_version ("7.0.15") to the RDB version
// that server writes; 0 when unknown.
func VersionForServer(redisVersion string) int {
	major, minor := splitVersion(redisVersion)
	switch {
	case major >= 8 || (major == 7 && minor >= 4):
		return 12
	case major == 7 && minor >= 2:
		return 11
	case major == 7:
		return 10
	case major == 6, major == 5:
		return 9
	}
	return 0
}

func splitVersion(v string) (major, minor int) {
	var parts [2]int
	i := 0
	for _, f := range []byte(v + ".") {
		if f == '.' {
			i++
			if i == 2 {
				break
			}
			continue
		}
		if f < '0' || f > '9' {
			break
		}
		parts[i] = parts[i]*10 + int(f-'0')
	}
	return parts[0], parts[1]
}
