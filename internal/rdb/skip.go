package rdb

import "fmt"

// skipValue consumes the encoding of one value of type t. It decodes only
// lengths and container headers; element bytes are skipped.
func (p *Parser) skipValue(t byte) error {
	b := p.br
	switch t {
	case TypeString, TypeHashZipmap, TypeListZiplist, TypeSetIntset, TypeZSetZiplist,
		TypeHashZiplist, TypeHashListpack, TypeZSetListpack, TypeSetListpack, TypeHashListpackExPre:
		return b.skipString()
	case TypeHashListpackEx: // minimum field expiry, then the listpack
		if err := b.skip(8); err != nil {
			return err
		}
		return b.skipString()
	case TypeList, TypeSet, TypeListQuicklist:
		return p.skipN(1, nil)
	case TypeHash:
		return p.skipN(2, nil)
	case TypeZSet:
		return p.skipN(1, p.skipOldDouble)
	case TypeZSet2:
		return p.skipN(1, func() error { return b.skip(8) })
	case TypeListQuicklist2:
		n, err := b.readPlainLen()
		for ; err == nil && n > 0; n-- {
			if _, err = b.readPlainLen(); err == nil { // container kind
				err = b.skipString()
			}
		}
		return err
	case TypeHashMetadata, TypeHashMetadataPre:
		if t == TypeHashMetadata {
			if err := b.skip(8); err != nil { // minimum field expiry
				return err
			}
		}
		n, err := b.readPlainLen()
		for ; err == nil && n > 0; n-- {
			if _, err = b.readPlainLen(); err == nil { // field TTL
				if err = b.skipString(); err == nil {
					err = b.skipString()
				}
			}
		}
		return err
	case TypeStreamListpacks, TypeStreamListpacks2, TypeStreamListpacks3:
		return p.skipStream(t)
	case TypeModule2:
		if _, err := b.readPlainLen(); err != nil { // module id
			return err
		}
		return p.skipModuleOpcodes()
	}
	return fmt.Errorf("%w: value type %d cannot be read", ErrFormat, t)
}

// skipN reads a count then that many groups of `strings` strings, each
// group followed by extra (if any).
func (p *Parser) skipN(strings int, extra func() error) error {
	n, err := p.br.readPlainLen()
	for ; err == nil && n > 0; n-- {
		for i := 0; i < strings && err == nil; i++ {
			err = p.br.skipString()
		}
		if err == nil && extra != nil {
			err = extra()
		}
	}
	return err
}

// skipOldDouble skips a score of the RDB_TYPE_ZSET encoding: a length
// byte (253 nan, 254 +inf, 255 -inf) and that many ASCII digits.
func (p *Parser) skipOldDouble() error {
	c, err := p.br.readByte()
	if err != nil || c >= 253 {
		return err
	}
	return p.br.skip(uint64(c))
}

// skipModuleOpcodes skips module-serialized data up to its EOF opcode.
func (p *Parser) skipModuleOpcodes() error {
	b := p.br
	for {
		op, err := b.readPlainLen()
		if err != nil {
			return err
		}
		switch op {
		case 0: // EOF
			return nil
		case 1, 2: // signed, unsigned integer
			_, err = b.readPlainLen()
		case 3: // float
			err = b.skip(4)
		case 4: // double
			err = b.skip(8)
		case 5: // string
			err = b.skipString()
		default:
			return fmt.Errorf("%w: unknown module opcode %d", ErrFormat, op)
		}
		if err != nil {
			return err
		}
	}
}

// skipStream skips a stream (listpack encodings 1 to 3).
func (p *Parser) skipStream(t byte) error {
	b := p.br
	lens := func(k int) error {
		for i := 0; i < k; i++ {
			if _, err := b.readPlainLen(); err != nil {
				return err
			}
		}
		return nil
	}
	// Listpack nodes: master ID (16-byte string) and listpack.
	if err := p.skipN(2, nil); err != nil {
		return err
	}
	extra := 0
	if t != TypeStreamListpacks {
		extra = 5 // first ID, max deleted ID, entries added
	}
	if err := lens(3 + extra); err != nil { // length, last ID
		return err
	}
	groups, err := b.readPlainLen()
	for ; err == nil && groups > 0; groups-- {
		if err = b.skipString(); err != nil { // group name
			return err
		}
		k := 2 // last delivered ID
		if t != TypeStreamListpacks {
			k = 3 // + entries read
		}
		if err = lens(k); err != nil {
			return err
		}
		var pel uint64
		pel, err = b.readPlainLen()
		for ; err == nil && pel > 0; pel-- {
			if err = b.skip(16 + 8); err == nil { // raw ID, delivery time
				_, err = b.readPlainLen() // delivery count
			}
		}
		if err != nil {
			return err
		}
		var consumers uint64
		consumers, err = b.readPlainLen()
		for ; err == nil && consumers > 0; consumers-- {
			if err = b.skipString(); err != nil { // name
				return err
			}
			seen := uint64(8)
			if t == TypeStreamListpacks3 {
				seen = 16 // seen time, active time
			}
			if err = b.skip(seen); err != nil {
				return err
			}
			pel, err = b.readPlainLen()
			for ; err == nil && pel > 0; pel-- {
				err = b.skip(16)
			}
		}
	}
	return err
}
