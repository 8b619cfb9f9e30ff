package rdb

import "fmt"

// lzfDecompress appends the LZF-decompressed form of in (expected to be
// exactly ulen bytes) to dst. Every back-reference and run is bounds
// checked: hostile input gives an error, never a panic.
func lzfDecompress(dst, in []byte, ulen int) ([]byte, error) {
	base := len(dst)
	// Preallocate what the input can plausibly expand to, not what a
	// (possibly hostile) header claims; append grows the rest.
	if want := min(ulen, 8*len(in)+64); cap(dst)-base < want {
		grown := make([]byte, base, base+want)
		copy(grown, dst)
		dst = grown
	}
	bad := func(what string) ([]byte, error) {
		return dst[:base], fmt.Errorf("%w: LZF %s", ErrFormat, what)
	}
	i := 0
	for i < len(in) {
		ctrl := int(in[i])
		i++
		if ctrl < 32 {
			n := ctrl + 1
			if i+n > len(in) {
				return bad("literal past end of input")
			}
			if len(dst)-base+n > ulen {
				return bad("output longer than declared")
			}
			dst = append(dst, in[i:i+n]...)
			i += n
			continue
		}
		n := ctrl >> 5
		if n == 7 {
			if i >= len(in) {
				return bad("truncated run length")
			}
			n += int(in[i])
			i++
		}
		if i >= len(in) {
			return bad("truncated back-reference")
		}
		ref := len(dst) - ((ctrl & 0x1f) << 8) - int(in[i]) - 1
		i++
		n += 2
		if ref < base {
			return bad("back-reference before start")
		}
		if len(dst)-base+n > ulen {
			return bad("output longer than declared")
		}
		for k := 0; k < n; k++ { // may overlap: byte by byte
			dst = append(dst, dst[ref+k])
		}
	}
	if len(dst)-base != ulen {
		return bad("output shorter than declared")
	}
	return dst, nil
}
