package rdb

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// The compact encodings Redis stores inside an RDB string (listpack,
// ziplist, zipmap, intset) are checked here the way Redis's deep
// sanitization (sanitize-dump-payload yes) checks them: every entry inside
// the blob, every length against the bytes left, the header's byte and
// element counts, the back-lengths. A blob that passes can be walked by
// redis-server without tripping an assertion. Nothing is allocated from a
// length read in the blob: the element list grows with the entries found.

// elem is one decoded entry of a listpack or ziplist: a string (s, a
// sub-slice of the blob) or an integer.
type elem struct {
	s     []byte
	n     int64
	isStr bool
}

// text is the element as Redis compares it: the bytes of a string, the
// decimal form of an integer.
func (e elem) text() string {
	if e.isStr {
		return string(e.s)
	}
	return strconv.FormatInt(e.n, 10)
}

// appendText appends what text returns, without allocating.
func (e elem) appendText(dst []byte) []byte {
	if e.isStr {
		return append(dst, e.s...)
	}
	return strconv.AppendInt(dst, e.n, 10)
}

// integer returns the element as an int64 the way Redis's
// lpGetIntegerIfValid does: integer entries, and strings that are the
// canonical decimal form of an int64.
func (e elem) integer() (int64, bool) {
	if !e.isStr {
		return e.n, true
	}
	return canonicalInt(e.s)
}

// canonicalInt parses s when it is exactly strconv.FormatInt of an int64
// (no sign but '-', no leading zeros, no spaces), as Redis's string2ll.
func canonicalInt(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != string(s) {
		return 0, false
	}
	return v, true
}

func badBlob(kind, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrFormat, kind, fmt.Sprintf(format, args...))
}

// checkFrame checks what listpacks and ziplists share: at least minSize
// bytes, a leading 32-bit total length equal to the string's, and the 0xff
// terminator at the end.
func checkFrame(kind string, b []byte, minSize int) error {
	size := len(b)
	if size < minSize {
		return badBlob(kind, "of %d bytes is shorter than its header", size)
	}
	if total := binary.LittleEndian.Uint32(b); uint64(total) != uint64(size) {
		return badBlob(kind, "header says %d bytes, the string holds %d", total, size)
	}
	if b[size-1] != 0xff {
		return badBlob(kind, "does not end with its terminator")
	}
	return nil
}

// parseListpack checks a listpack as lpValidateIntegrity(deep) does and
// returns its entries (appended to out).
func parseListpack(lp []byte, out []elem) ([]elem, error) {
	size := len(lp)
	if err := checkFrame("listpack", lp, 7); err != nil {
		return out, err
	}
	numele := int(binary.LittleEndian.Uint16(lp[4:]))
	last := size - 1 // the terminator: no entry reaches it
	pos, count := 6, 0
	for lp[pos] != 0xff {
		hdr, body, e, ok := lpEncoding(lp[pos:last])
		if !ok {
			return out, badBlob("listpack", "entry %d at byte %d: invalid encoding 0x%02x or header past the end", count, pos, lp[pos])
		}
		entry := uint64(hdr) + body
		back := uint64(backlenSize(entry))
		if uint64(pos)+entry+back > uint64(last) {
			return out, badBlob("listpack", "entry %d at byte %d: %d bytes reach past the end", count, pos, entry+back)
		}
		next := pos + int(entry+back)
		if v, ok := decodeBacklen(lp[:next]); !ok || v != entry {
			return out, badBlob("listpack", "entry %d at byte %d: back-length does not match the entry's %d bytes", count, pos, entry)
		}
		if e.isStr {
			e.s = lp[pos+hdr : pos+hdr+int(body)]
		}
		out = append(out, e)
		count++
		pos = next
	}
	if pos != last {
		return out, badBlob("listpack", "a terminator at byte %d, before the end (%d)", pos, last)
	}
	if numele != 0xffff && numele != count {
		return out, badBlob("listpack", "header counts %d entries, it holds %d", numele, count)
	}
	return out, nil
}

// lpEncoding decodes the header of the listpack entry at the start of p
// (p ends before the terminator): header size, payload size, and for
// integers the value. ok is false for an unknown encoding or a header
// that does not fit.
func lpEncoding(p []byte) (hdr int, body uint64, e elem, ok bool) {
	if len(p) == 0 {
		return 0, 0, e, false
	}
	b := p[0]
	need := func(n int) bool { return len(p) >= n }
	switch {
	case b&0x80 == 0: // 7-bit unsigned
		return 1, 0, elem{n: int64(b & 0x7f)}, true
	case b&0xc0 == 0x80: // 6-bit string length
		return 1, uint64(b & 0x3f), elem{isStr: true}, true
	case b&0xe0 == 0xc0: // 13-bit signed
		if !need(2) {
			return 0, 0, e, false
		}
		v := int64(b&0x1f)<<8 | int64(p[1])
		if v >= 1<<12 {
			v -= 1 << 13
		}
		return 2, 0, elem{n: v}, true
	case b&0xf0 == 0xe0: // 12-bit string length
		if !need(2) {
			return 0, 0, e, false
		}
		return 2, uint64(b&0x0f)<<8 | uint64(p[1]), elem{isStr: true}, true
	}
	switch b {
	case 0xf0: // 32-bit string length
		if !need(5) {
			return 0, 0, e, false
		}
		return 5, uint64(binary.LittleEndian.Uint32(p[1:])), elem{isStr: true}, true
	case 0xf1:
		if !need(3) {
			return 0, 0, e, false
		}
		return 3, 0, elem{n: int64(int16(binary.LittleEndian.Uint16(p[1:])))}, true
	case 0xf2:
		if !need(4) {
			return 0, 0, e, false
		}
		v := int64(int32(uint32(p[1])<<8|uint32(p[2])<<16|uint32(p[3])<<24) >> 8)
		return 4, 0, elem{n: v}, true
	case 0xf3:
		if !need(5) {
			return 0, 0, e, false
		}
		return 5, 0, elem{n: int64(int32(binary.LittleEndian.Uint32(p[1:])))}, true
	case 0xf4:
		if !need(9) {
			return 0, 0, e, false
		}
		return 9, 0, elem{n: int64(binary.LittleEndian.Uint64(p[1:]))}, true
	}
	return 0, 0, e, false
}

// backlenSize is the number of bytes the back-length of an entry of l
// bytes takes (lpEncodeBacklen).
func backlenSize(l uint64) int {
	switch {
	case l <= 127:
		return 1
	case l < 16383:
		return 2
	case l < 2097151:
		return 3
	case l < 268435455:
		return 4
	}
	return 5
}

// decodeBacklen reads the back-length that ends at the last byte of b,
// right to left (lpDecodeBacklen); at most 5 bytes.
func decodeBacklen(b []byte) (uint64, bool) {
	var v uint64
	for i, shift := len(b)-1, uint(0); i >= 0; i, shift = i-1, shift+7 {
		if shift > 28 {
			return 0, false
		}
		v |= uint64(b[i]&127) << shift
		if b[i]&128 == 0 {
			return v, true
		}
	}
	return 0, false
}

// parseZiplist checks a ziplist as ziplistValidateIntegrity(deep) does and
// returns its entries.
func parseZiplist(zl []byte, out []elem) ([]elem, error) {
	size := len(zl)
	if err := checkFrame("ziplist", zl, 11); err != nil {
		return out, err
	}
	tail := uint64(binary.LittleEndian.Uint32(zl[4:]))
	if tail > uint64(size-1) {
		return out, badBlob("ziplist", "tail offset %d is past the end", tail)
	}
	header := int(binary.LittleEndian.Uint16(zl[8:]))
	last := size - 1
	pos, prev, prevRaw, count := 10, -1, uint64(0), 0
	for zl[pos] != 0xff {
		hdr, body, prevLen, e, ok := zlEntry(zl[pos:last])
		if !ok {
			return out, badBlob("ziplist", "entry %d at byte %d: invalid encoding or header past the end", count, pos)
		}
		raw := uint64(hdr) + body
		if uint64(pos)+raw > uint64(last) {
			return out, badBlob("ziplist", "entry %d at byte %d: %d bytes reach past the end", count, pos, raw)
		}
		if prevLen != prevRaw {
			return out, badBlob("ziplist", "entry %d at byte %d: previous-entry length %d, the previous entry has %d bytes", count, pos, prevLen, prevRaw)
		}
		if e.isStr {
			e.s = zl[pos+hdr : pos+hdr+int(body)]
		}
		out = append(out, e)
		prevRaw, prev = raw, pos
		pos += int(raw)
		count++
	}
	if pos != last {
		return out, badBlob("ziplist", "a terminator at byte %d, before the end (%d)", pos, last)
	}
	if prev >= 0 && uint64(prev) != tail {
		return out, badBlob("ziplist", "tail offset %d, the last entry starts at %d", tail, prev)
	}
	if header != 0xffff && header != count {
		return out, badBlob("ziplist", "header counts %d entries, it holds %d", header, count)
	}
	return out, nil
}

// zlEntry decodes the headers of the ziplist entry at the start of p (p
// ends before the terminator).
func zlEntry(p []byte) (hdr int, body, prevLen uint64, e elem, ok bool) {
	if len(p) == 0 {
		return
	}
	pl := 1
	if p[0] >= 254 {
		pl = 5
	}
	if len(p) <= pl {
		return
	}
	if pl == 1 {
		prevLen = uint64(p[0])
	} else {
		prevLen = uint64(binary.LittleEndian.Uint32(p[1:]))
	}
	q := p[pl:]
	enc := q[0]
	if enc < 0xc0 {
		enc &= 0xc0
	}
	var ls int
	switch {
	case enc == 0x00:
		ls, body, e = 1, uint64(q[0]&0x3f), elem{isStr: true}
	case enc == 0x40:
		if len(q) < 2 {
			return
		}
		ls, body, e = 2, uint64(q[0]&0x3f)<<8|uint64(q[1]), elem{isStr: true}
	case enc == 0x80:
		if len(q) < 5 {
			return
		}
		ls, body, e = 5, uint64(binary.BigEndian.Uint32(q[1:])), elem{isStr: true}
	case enc >= 0xf1 && enc <= 0xfd: // immediate 0..12
		ls, e = 1, elem{n: int64(enc&0x0f) - 1}
	case enc == 0xc0:
		ls, body = 1, 2
	case enc == 0xd0:
		ls, body = 1, 4
	case enc == 0xe0:
		ls, body = 1, 8
	case enc == 0xf0:
		ls, body = 1, 3
	case enc == 0xfe:
		ls, body = 1, 1
	default:
		return
	}
	hdr = pl + ls
	if !e.isStr && body > 0 {
		if uint64(len(p)) < uint64(hdr)+body {
			return
		}
		v := p[hdr : hdr+int(body)]
		switch body {
		case 1:
			e.n = int64(int8(v[0]))
		case 2:
			e.n = int64(int16(binary.LittleEndian.Uint16(v)))
		case 3:
			e.n = int64(int32(uint32(v[0])<<8|uint32(v[1])<<16|uint32(v[2])<<24) >> 8)
		case 4:
			e.n = int64(int32(binary.LittleEndian.Uint32(v)))
		case 8:
			e.n = int64(binary.LittleEndian.Uint64(v))
		}
	}
	return hdr, body, prevLen, e, true
}

// parseZipmap checks a zipmap (Redis 2.x hashes) as zipmapValidateIntegrity
// does and returns its fields and values, alternating.
func parseZipmap(zm []byte, out []elem) ([]elem, error) {
	size := len(zm)
	if size < 2 {
		return out, badBlob("zipmap", "of %d bytes is shorter than its header", size)
	}
	if zm[size-1] != 0xff {
		return out, badBlob("zipmap", "does not end with its terminator")
	}
	in := func(p uint64) bool { return p >= 2 && p <= uint64(size-1) }
	length := func(p uint64) (n, s uint64) {
		if zm[p] < 254 {
			return uint64(zm[p]), 1
		}
		return uint64(binary.LittleEndian.Uint32(zm[p+1:])), 5
	}
	pos, count := uint64(1), 0
	for zm[pos] != 0xff {
		for part := 0; part < 2; part++ {
			s := uint64(1)
			if zm[pos] >= 254 {
				s = 5
			}
			if !in(pos + s) {
				return out, badBlob("zipmap", "entry %d: length past the end", count)
			}
			l, _ := length(pos)
			pos += s
			free := uint64(0)
			if part == 1 {
				free = uint64(zm[pos])
				pos++
			}
			start := pos
			pos += l + free
			if !in(pos) {
				return out, badBlob("zipmap", "entry %d: %d bytes reach past the end", count, l)
			}
			out = append(out, elem{isStr: true, s: zm[start : start+l]})
		}
		count++
	}
	if count == 0 {
		return out, badBlob("zipmap", "is empty")
	}
	if zm[0] != 254 && int(zm[0]) != count {
		return out, badBlob("zipmap", "header counts %d entries, it holds %d", zm[0], count)
	}
	return out, nil
}

// checkIntset checks an intset as intsetValidateIntegrity(deep) does:
// a known width, a size that matches the count, not empty, and members in
// strictly increasing order. It returns the number of members.
func checkIntset(is []byte) (int, error) {
	if len(is) < 8 {
		return 0, badBlob("intset", "of %d bytes is shorter than its header", len(is))
	}
	width := binary.LittleEndian.Uint32(is)
	if width != 2 && width != 4 && width != 8 {
		return 0, badBlob("intset", "member width %d (not 2, 4 or 8)", width)
	}
	count := uint64(binary.LittleEndian.Uint32(is[4:]))
	if 8+count*uint64(width) != uint64(len(is)) {
		return 0, badBlob("intset", "counts %d members of %d bytes, the string holds %d bytes", count, width, len(is))
	}
	if count == 0 {
		return 0, badBlob("intset", "is empty")
	}
	at := func(i int) int64 {
		b := is[8+i*int(width):]
		switch width {
		case 2:
			return int64(int16(binary.LittleEndian.Uint16(b)))
		case 4:
			return int64(int32(binary.LittleEndian.Uint32(b)))
		}
		return int64(binary.LittleEndian.Uint64(b))
	}
	for i := 1; i < int(count); i++ {
		if at(i) <= at(i-1) {
			return 0, badBlob("intset", "members %d and %d are duplicated or out of order", i-1, i)
		}
	}
	return int(count), nil
}
