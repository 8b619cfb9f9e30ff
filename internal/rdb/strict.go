package rdb

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
)

// A strict parser (Parser.Strict) decodes every value completely instead
// of skipping its bytes, and refuses what redis-server would refuse or
// crash on later: every string is read (LZF strings decompressed to their
// declared length), every listpack, ziplist, zipmap and intset inside a
// value is checked entry by entry (encodings.go), containers are not
// empty, set members, hash fields, zset members, stream IDs, consumer
// groups and consumers are not duplicated, zset scores are not NaN, hash
// field TTLs are in range, every stream listpack has the entry layout
// XADD writes, and module values (which only the module could check) are
// refused by name. The rules follow rdbLoadObject with
// sanitize-dump-payload yes (Redis 7.x). Memory stays bounded by the value
// being read: the decoded strings and, for duplicate checks, the members
// of one value.

// Redis limits on hash field expiry times (ebuckets.h).
const (
	expireTimeMax     = 1<<48 - 1
	expireTimeInvalid = expireTimeMax + 1
)

// Quicklist node containers (RDB_TYPE_LIST_QUICKLIST_2).
const (
	containerPlain  = 1
	containerPacked = 2
)

// streamSameFields is STREAM_ITEM_FLAG_SAMEFIELDS: the entry uses the
// master entry's field names.
const streamSameFields = 2

// str reads one RDB string, decoded, into the parser's scratch buffer
// (valid until the next call).
func (p *Parser) str() ([]byte, error) {
	var err error
	p.scratch, err = p.br.readString(p.scratch[:0])
	return p.scratch, err
}

// uniq tracks the members of one value to refuse duplicates. It keeps
// two independent 64-bit hashes of each member rather than the member: no
// copy per member, and a false duplicate has a chance of about 2^-127
// (one bit of the second hash marks a used slot). The table is open
// addressing on the first hash, which is already uniformly random: no
// second hashing of the key as a Go map would do, and no growth when the
// member count is known ahead (newUniq).
type uniq struct {
	tab  [][2]uint64 // power-of-two length; {0, 0} is an empty slot
	n    int
	what string // names a member in the duplicate error ("set member")
}

var uniqSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// uniqPresize bounds the room reserved ahead for a count read from the
// stream (a hostile count must not allocate much before bytes arrive).
const uniqPresize = 1 << 16

// reset empties u for a value of about n members (at most uniqPresize
// reserved ahead), reusing its table when that is large enough; only the
// part of the table in use is cleared, so a large value does not make
// every small one after it slow.
func (u *uniq) reset(what string, n uint64) {
	size := 8
	for uint64(size) < 2*min(n, uniqPresize) {
		size *= 2
	}
	if cap(u.tab) >= size {
		u.tab = u.tab[:size]
		clear(u.tab)
	} else {
		u.tab = make([][2]uint64, size)
	}
	u.n, u.what = 0, what
}

func (u *uniq) add(s []byte) error {
	if u.tab == nil {
		u.reset(u.what, 0)
	}
	k := [2]uint64{maphash.Bytes(uniqSeeds[0], s), maphash.Bytes(uniqSeeds[1], s) | 1}
	if !u.insert(k) {
		return fmt.Errorf("%w: duplicate %s %s", ErrFormat, u.what, quoteShort(s))
	}
	if u.n++; 4*u.n > 3*len(u.tab) {
		old := u.tab
		u.tab = make([][2]uint64, 2*len(old))
		for _, k := range old {
			if k != ([2]uint64{}) {
				u.insert(k)
			}
		}
	}
	return nil
}

// insert puts k into the table and reports false when it is there already.
func (u *uniq) insert(k [2]uint64) bool { return insertHash(u.tab, k) }

// insertHash puts k (not {0, 0}) into the open-addressing table tab (a
// power-of-two length, not full) and reports false when it is there
// already.
func insertHash(tab [][2]uint64, k [2]uint64) bool {
	mask := uint64(len(tab) - 1)
	for i := k[0] & mask; ; i = (i + 1) & mask {
		switch tab[i] {
		case k:
			return false
		case [2]uint64{}:
			tab[i] = k
			return true
		}
	}
}

// quoteShort quotes at most 40 bytes of s for an error message.
func quoteShort(s []byte) string {
	if len(s) > 40 {
		return strconv.Quote(string(s[:40])) + "…"
	}
	return strconv.Quote(string(s))
}

func emptyValue() error {
	return fmt.Errorf("%w: empty value (Redis never writes an empty collection)", ErrFormat)
}

// checkValue reads and checks the value of one key of type t.
func (p *Parser) checkValue(t byte) error {
	b := p.br
	switch t {
	case TypeString:
		_, err := p.str()
		return err
	case TypeList:
		return p.checkPlain(1, "", nil)
	case TypeSet:
		return p.checkPlain(1, "set member", nil)
	case TypeHash:
		return p.checkPlain(2, "hash field", nil)
	case TypeZSet:
		return p.checkPlain(1, "zset member", p.checkOldScore)
	case TypeZSet2:
		return p.checkPlain(1, "zset member", func() error {
			s, err := b.readN(8)
			if err == nil && math.IsNaN(math.Float64frombits(le64(s))) {
				err = fmt.Errorf("%w: zset score is NaN", ErrFormat)
			}
			return err
		})
	case TypeHashMetadata, TypeHashMetadataPre:
		return p.checkHashMetadata(t)
	case TypeListQuicklist, TypeListQuicklist2:
		return p.checkQuicklist(t)
	case TypeHashZipmap, TypeListZiplist, TypeSetIntset, TypeZSetZiplist, TypeHashZiplist,
		TypeHashListpack, TypeZSetListpack, TypeSetListpack, TypeHashListpackExPre, TypeHashListpackEx:
		if t == TypeHashListpackEx {
			if _, err := b.readN(8); err != nil { // minimum field expiry, unused
				return err
			}
		}
		blob, err := p.str()
		if err != nil {
			return err
		}
		return p.checkBlob(t, blob)
	case TypeStreamListpacks, TypeStreamListpacks2, TypeStreamListpacks3:
		return p.checkStream(t)
	case TypeModule2:
		id, err := b.readPlainLen()
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: a value of Redis module type %q (module id %d): 3scale-ops cannot check module data and 3scale does not use modules", ErrFormat, ModuleTypeName(id), id)
	}
	return fmt.Errorf("%w: value type %d cannot be read", ErrFormat, t)
}

// checkPlain reads a count, then that many groups of `strings` strings
// (each group followed by extra, if any). A non-empty what names the first
// string of each group, which must be unique.
func (p *Parser) checkPlain(strings int, what string, extra func() error) error {
	n, err := p.br.readPlainLen()
	if err != nil {
		return err
	}
	if n == 0 {
		return emptyValue()
	}
	seen := &p.seen
	seen.reset(what, n)
	for ; n > 0; n-- {
		for i := 0; i < strings; i++ {
			s, err := p.str()
			if err != nil {
				return err
			}
			if i == 0 && what != "" {
				if err := seen.add(s); err != nil {
					return err
				}
			}
		}
		if extra != nil {
			if err := extra(); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOldScore reads a score of the RDB_TYPE_ZSET encoding: a length
// byte (253 NaN, 254 +inf, 255 -inf) and that many ASCII characters.
func (p *Parser) checkOldScore() error {
	c, err := p.br.readByte()
	if err != nil {
		return err
	}
	switch c {
	case 253:
		return fmt.Errorf("%w: zset score is NaN", ErrFormat)
	case 254, 255:
		return nil
	}
	s, err := p.br.readN(int(c))
	if err != nil {
		return err
	}
	if f, ok := scanFloat(s); !ok || math.IsNaN(f) {
		return fmt.Errorf("%w: zset score %q is not a number", ErrFormat, s)
	}
	return nil
}

// scanFloat reads a number the way Redis does here (sscanf "%lg"): leading
// white space, then the longest prefix that is a number.
func scanFloat(s []byte) (float64, bool) {
	t := strings.TrimLeft(string(s), " \t\n\v\f\r")
	if i := strings.IndexByte(t, 0); i >= 0 {
		t = t[:i]
	}
	for n := len(t); n > 0; n-- {
		if f, err := strconv.ParseFloat(t[:n], 64); err == nil || errors.Is(err, strconv.ErrRange) {
			return f, true
		}
	}
	return 0, false
}

// checkHashMetadata reads a hash with field expiry times in the plain
// encoding (Redis 7.4+).
func (p *Parser) checkHashMetadata(t byte) error {
	b := p.br
	var minExpire uint64
	if t == TypeHashMetadata {
		m, err := b.readN(8)
		if err != nil {
			return err
		}
		if minExpire = le64(m); minExpire > expireTimeInvalid {
			return fmt.Errorf("%w: hash minimum field expiry %d out of range", ErrFormat, minExpire)
		}
	}
	n, err := b.readPlainLen()
	if err != nil {
		return err
	}
	if n == 0 {
		return emptyValue()
	}
	seen := &p.seen
	seen.reset("hash field", n)
	for ; n > 0; n-- {
		ttl, err := b.readPlainLen()
		if err != nil {
			return err
		}
		at := ttl
		if t == TypeHashMetadata && ttl != 0 {
			at = ttl + minExpire - 1
			if at < ttl { // wrapped
				at = math.MaxUint64
			}
		}
		if at > expireTimeMax {
			return fmt.Errorf("%w: hash field expiry %d out of range", ErrFormat, at)
		}
		f, err := p.str()
		if err != nil {
			return err
		}
		if err := seen.add(f); err != nil {
			return err
		}
		if _, err := p.str(); err != nil {
			return err
		}
	}
	return nil
}

// checkQuicklist reads a list of ziplist (v1) or listpack/plain (v2) nodes.
func (p *Parser) checkQuicklist(t byte) error {
	b := p.br
	n, err := b.readPlainLen()
	if err != nil {
		return err
	}
	total := 0
	for i := uint64(0); i < n; i++ {
		container := uint64(containerPacked)
		if t == TypeListQuicklist2 {
			if container, err = b.readPlainLen(); err != nil {
				return err
			}
			if container != containerPlain && container != containerPacked {
				return fmt.Errorf("%w: quicklist node %d: unknown container %d", ErrFormat, i, container)
			}
		}
		node, err := p.str()
		if err != nil {
			return err
		}
		if len(node) == 0 {
			return fmt.Errorf("%w: quicklist node %d is empty", ErrFormat, i)
		}
		if container == containerPlain {
			total++
			continue
		}
		if t == TypeListQuicklist2 {
			p.elems, err = parseListpack(node, p.elems[:0])
		} else {
			p.elems, err = parseZiplist(node, p.elems[:0])
		}
		if err != nil {
			return fmt.Errorf("quicklist node %d: %w", i, err)
		}
		total += len(p.elems)
	}
	if total == 0 {
		return emptyValue()
	}
	return nil
}

// checkBlob checks the single-string encodings.
func (p *Parser) checkBlob(t byte, blob []byte) (err error) {
	if t == TypeSetIntset {
		_, err := checkIntset(blob)
		return err
	}
	tuple, what := 1, ""
	switch t {
	case TypeHashZipmap:
		p.elems, err = parseZipmap(blob, p.elems[:0])
		tuple, what = 2, "hash field"
	case TypeListZiplist:
		p.elems, err = parseZiplist(blob, p.elems[:0])
	case TypeZSetZiplist, TypeHashZiplist:
		p.elems, err = parseZiplist(blob, p.elems[:0])
		tuple, what = 2, map[byte]string{TypeZSetZiplist: "zset member", TypeHashZiplist: "hash field"}[t]
	case TypeSetListpack:
		p.elems, err = parseListpack(blob, p.elems[:0])
		what = "set member"
	case TypeZSetListpack:
		p.elems, err = parseListpack(blob, p.elems[:0])
		tuple, what = 2, "zset member"
	case TypeHashListpack:
		p.elems, err = parseListpack(blob, p.elems[:0])
		tuple, what = 2, "hash field"
	case TypeHashListpackExPre, TypeHashListpackEx:
		p.elems, err = parseListpack(blob, p.elems[:0])
		tuple, what = 3, "hash field"
	}
	if err != nil {
		return err
	}
	els := p.elems
	if len(els) == 0 {
		return emptyValue()
	}
	if len(els)%tuple != 0 {
		return fmt.Errorf("%w: %d entries, not a multiple of %d", ErrFormat, len(els), tuple)
	}
	if what == "" {
		return nil
	}
	seen := &p.seen
	seen.reset(what, uint64(len(els)/tuple))
	last := int64(-1)
	for i := 0; i < len(els); i += tuple {
		p.text = els[i].appendText(p.text[:0])
		if err := seen.add(p.text); err != nil {
			return err
		}
		if tuple == 3 { // field, value, expiry: expiring fields first, in order
			at, ok := els[i+2].integer()
			switch {
			case !ok || at < 0 || at > expireTimeMax:
				return fmt.Errorf("%w: hash field expiry %q out of range", ErrFormat, els[i+2].text())
			case at != 0 && (last == 0 || at < last):
				return fmt.Errorf("%w: hash field expiries out of order", ErrFormat)
			}
			last = at
		}
	}
	return nil
}

// checkStream reads a stream: its listpack nodes, counters and consumer
// groups.
func (p *Parser) checkStream(t byte) error {
	b := p.br
	nodes, err := b.readPlainLen()
	if err != nil {
		return err
	}
	ids := uniq{what: "stream node ID"}
	for i := uint64(0); i < nodes; i++ {
		id, err := p.str()
		if err != nil {
			return err
		}
		if len(id) != 16 {
			return fmt.Errorf("%w: stream node %d: master ID of %d bytes (not 16)", ErrFormat, i, len(id))
		}
		if err := ids.add(id); err != nil {
			return err
		}
		lp, err := p.str()
		if err != nil {
			return err
		}
		if err := p.checkStreamListpack(lp); err != nil {
			return fmt.Errorf("stream node %d: %w", i, err)
		}
	}
	counters := 3 // length, last ID
	if t != TypeStreamListpacks {
		counters += 5 // first ID, max deleted ID, entries added
	}
	var length uint64
	for i := 0; i < counters; i++ {
		v, err := b.readPlainLen()
		if err != nil {
			return err
		}
		if i == 0 {
			length = v
		}
	}
	if length > 0 && nodes == 0 {
		return fmt.Errorf("%w: stream of %d entries without listpack nodes", ErrFormat, length)
	}
	groups, err := b.readPlainLen()
	if err != nil {
		return err
	}
	names := uniq{what: "consumer group"}
	for ; groups > 0; groups-- {
		if err := p.checkConsumerGroup(t, &names); err != nil {
			return err
		}
	}
	return nil
}

// checkConsumerGroup reads one consumer group: name, last ID, (offset),
// the group's pending entries, its consumers and theirs. Every pending
// entry belongs to exactly one consumer.
func (p *Parser) checkConsumerGroup(t byte, names *uniq) error {
	b := p.br
	name, err := p.str()
	if err != nil {
		return err
	}
	if err := names.add(name); err != nil {
		return err
	}
	group := string(name)
	k := 2 // last delivered ID
	if t != TypeStreamListpacks {
		k++ // entries read
	}
	for i := 0; i < k; i++ {
		if _, err := b.readPlainLen(); err != nil {
			return err
		}
	}
	pel, err := b.readPlainLen()
	if err != nil {
		return err
	}
	owner := map[[16]byte]bool{} // pending entry → claimed by a consumer
	for ; pel > 0; pel-- {
		raw, err := b.readN(16)
		if err != nil {
			return err
		}
		id := [16]byte(raw)
		if _, dup := owner[id]; dup {
			return fmt.Errorf("%w: consumer group %s: duplicate pending entry", ErrFormat, quoteShort([]byte(group)))
		}
		owner[id] = false
		if _, err := b.readN(8); err != nil { // delivery time
			return err
		}
		if _, err := b.readPlainLen(); err != nil { // delivery count
			return err
		}
	}
	consumers, err := b.readPlainLen()
	if err != nil {
		return err
	}
	seen := uniq{what: "consumer in group " + quoteShort([]byte(group))}
	for ; consumers > 0; consumers-- {
		c, err := p.str()
		if err != nil {
			return err
		}
		if err := seen.add(c); err != nil {
			return err
		}
		times := 8 // seen time
		if t == TypeStreamListpacks3 {
			times = 16 // + active time
		}
		if _, err := b.readN(times); err != nil {
			return err
		}
		n, err := b.readPlainLen()
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			raw, err := b.readN(16)
			if err != nil {
				return err
			}
			id := [16]byte(raw)
			claimed, ok := owner[id]
			if !ok || claimed {
				return fmt.Errorf("%w: consumer group %s: a consumer's pending entry is not pending in the group, or has two owners", ErrFormat, quoteShort([]byte(group)))
			}
			owner[id] = true
		}
	}
	for _, claimed := range owner {
		if !claimed {
			return fmt.Errorf("%w: consumer group %s: a pending entry without a consumer", ErrFormat, quoteShort([]byte(group)))
		}
	}
	return nil
}

// checkStreamListpack checks the entry layout of one stream listpack, as
// streamValidateListpackIntegrity(deep) does: the master entry (count,
// deleted, field names, 0) and then every entry (flags, ID, fields or the
// master's, values, and the entry's element count).
func (p *Parser) checkStreamListpack(lp []byte) error {
	var err error
	if p.elems, err = parseListpack(lp, p.elems[:0]); err != nil {
		return err
	}
	els := p.elems
	if len(els) == 0 {
		return fmt.Errorf("%w: empty stream listpack", ErrFormat)
	}
	i := 0
	bad := func(what string) error {
		return fmt.Errorf("%w: stream listpack element %d: %s", ErrFormat, i, what)
	}
	integer := func() (int64, error) {
		if i >= len(els) {
			return 0, bad("missing")
		}
		v, ok := els[i].integer()
		if !ok {
			return 0, bad("not an integer")
		}
		i++
		return v, nil
	}
	skip := func(n int64) error {
		if n < 0 || n > int64(len(els)-i) {
			return bad(fmt.Sprintf("%d elements announced, %d left", n, len(els)-i))
		}
		i += int(n)
		return nil
	}
	var entries, deleted, master int64
	for _, v := range []*int64{&entries, &deleted, &master} {
		if *v, err = integer(); err != nil {
			return err
		}
	}
	if entries < 0 || deleted < 0 {
		return bad("negative entry count")
	}
	if err := skip(master); err != nil {
		return err
	}
	if zero, err := integer(); err != nil || zero != 0 {
		return bad("the master entry does not end with 0")
	}
	if entries+deleted < 0 || entries+deleted > int64(len(els)) {
		return bad("entry count larger than the listpack")
	}
	for n := entries + deleted; n > 0; n-- {
		flags, err := integer()
		if err != nil {
			return err
		}
		for k := 0; k < 2; k++ { // ID: ms and seq deltas
			if _, err := integer(); err != nil {
				return err
			}
		}
		fields, extra := master, int64(3)
		if flags&streamSameFields == 0 {
			if fields, err = integer(); err != nil {
				return err
			}
			if err := skip(fields); err != nil { // field names
				return err
			}
			extra += fields + 1
		}
		if err := skip(fields); err != nil { // values
			return err
		}
		count, err := integer()
		if err != nil {
			return err
		}
		if count != fields+extra {
			return bad(fmt.Sprintf("entry element count %d, the entry has %d", count, fields+extra))
		}
	}
	if i != len(els) {
		return bad(fmt.Sprintf("%d elements after the last entry", len(els)-i))
	}
	return nil
}

// ModuleTypeName turns a module type id into its 9-character name (the
// upper 54 bits, 6 bits a character), as redis-server reports it.
func ModuleTypeName(id uint64) string {
	const cset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var name [9]byte
	id >>= 10
	for j := 8; j >= 0; j-- {
		name[j] = cset[id&63]
		id >>= 6
	}
	return string(name[:])
}
