// Package rdb is the Redis engine of 3scale-ops: it backs up
// backend-redis and system-redis as standard dump.rdb files (over the
// replication protocol, as `redis-cli --rdb` does, or assembled from
// SCAN+DUMP when SYNC is refused), reads and writes the RDB format
// (versions 9 to 12: Redis 6, 7 and Valkey), and restores a snapshot in an
// AOF-safe way: `replay` (pipelined RESTORE … REPLACE ABSTTL on any Redis)
// or `file` (the operating guide's dump.rdb procedure, against the small
// FileModeTarget interface).
//
// It must never import Kubernetes, the repository or the CLI, never hold a
// whole snapshot in memory (only one value at a time), never print, and
// never touch a target before the artifact it restores has been checked
// end to end (structure and CRC64).
package rdb

// RDB opcodes.
const (
	opSlotInfo     = 0xF4
	opFunction2    = 0xF5
	opFunction     = 0xF6
	opModuleAux    = 0xF7
	opIdle         = 0xF8
	opFreq         = 0xF9
	opAux          = 0xFA
	opResizeDB     = 0xFB
	opExpireTimeMs = 0xFC
	opExpireTime   = 0xFD
	opSelectDB     = 0xFE
	opEOF          = 0xFF
)

// Value types (the byte before the key of each entry, and the first byte
// of a DUMP payload).
const (
	TypeString            = 0
	TypeList              = 1
	TypeSet               = 2
	TypeZSet              = 3
	TypeHash              = 4
	TypeZSet2             = 5
	TypeModule            = 6
	TypeModule2           = 7
	TypeHashZipmap        = 9
	TypeListZiplist       = 10
	TypeSetIntset         = 11
	TypeZSetZiplist       = 12
	TypeHashZiplist       = 13
	TypeListQuicklist     = 14
	TypeStreamListpacks   = 15
	TypeHashListpack      = 16
	TypeZSetListpack      = 17
	TypeListQuicklist2    = 18
	TypeStreamListpacks2  = 19
	TypeSetListpack       = 20
	TypeStreamListpacks3  = 21
	TypeHashMetadataPre   = 22
	TypeHashListpackExPre = 23
	TypeHashMetadata      = 24
	TypeHashListpackEx    = 25
)

// Versions this package reads (and writes, echoing the source's version).
const (
	MinVersion = 9
	MaxVersion = 12
)

// TypeName is the Redis data type a value type byte encodes ("string",
// "list", "set", "zset", "hash", "stream", "module").
func TypeName(t byte) string {
	switch t {
	case TypeString:
		return "string"
	case TypeList, TypeListZiplist, TypeListQuicklist, TypeListQuicklist2:
		return "list"
	case TypeSet, TypeSetIntset, TypeSetListpack:
		return "set"
	case TypeZSet, TypeZSet2, TypeZSetZiplist, TypeZSetListpack:
		return "zset"
	case TypeHash, TypeHashZipmap, TypeHashZiplist, TypeHashListpack,
		TypeHashMetadataPre, TypeHashListpackExPre, TypeHashMetadata, TypeHashListpackEx:
		return "hash"
	case TypeStreamListpacks, TypeStreamListpacks2, TypeStreamListpacks3:
		return "stream"
	case TypeModule, TypeModule2:
		return "module"
	}
	return "unknown"
}

// knownType reports whether the parser can find the end of a value of type t.
func knownType(t byte) bool { return t != TypeModule && TypeName(t) != "unknown" }
