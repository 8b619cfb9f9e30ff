package rdb

// Redis checksums RDB files and DUMP payloads with CRC-64/Jones: reflected
// input and output, no initial value and no final xor. The reflected form
// of the Jones polynomial 0xad93d23594c935a9 drives a slicing-by-8 table.
const jonesReflected = 0x95ac9329ac4bc9b5

var crcTab = func() (t [8][256]uint64) {
	for i := 0; i < 256; i++ {
		c := uint64(i)
		for j := 0; j < 8; j++ {
			if c&1 == 1 {
				c = c>>1 ^ jonesReflected
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for i := 0; i < 256; i++ {
		c := t[0][i]
		for k := 1; k < 8; k++ {
			c = t[0][c&0xff] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}()

// crc64 continues the Redis CRC-64 crc over p.
func crc64(crc uint64, p []byte) uint64 {
	for len(p) >= 8 {
		crc ^= uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
			uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
		crc = crcTab[7][crc&0xff] ^ crcTab[6][crc>>8&0xff] ^ crcTab[5][crc>>16&0xff] ^
			crcTab[4][crc>>24&0xff] ^ crcTab[3][crc>>32&0xff] ^ crcTab[2][crc>>40&0xff] ^
			crcTab[1][crc>>48&0xff] ^ crcTab[0][crc>>56]
		p = p[8:]
	}
	for _, b := range p {
		crc = crcTab[0][byte(crc)^b] ^ crc>>8
	}
	return crc
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func putLE64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}
