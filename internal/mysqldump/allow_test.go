package mysqldump

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"
)

func TestDataCheckerLiterals(t *testing.T) {
	d := newDataChecker("data/t.00001.sql", "t")
	ok := []string{
		"INSERT INTO `t` (`a`) VALUES (1)",
		"-- 3scale-ops system-mysql data: `t`, file 1 of 1\nSET NAMES utf8mb4",
		"SET sql_mode='" + loadSQLMode + "'",
		"/*M!101100 SET SESSION system_versioning_insert_history=1 */",
		"INSERT INTO `t` (`a`,`b``c`,`d`) VALUES (NULL,'x\\'y'),(-1.5e-07,''),(0x00FF,'a''b;c')",
		"INSERT INTO `t` (`a`) VALUES ('{\"k\":\"v\"}')\n",
	}
	for _, st := range ok {
		if err := d.check(st); err != nil {
			t.Errorf("%q refused: %v", st, err)
		}
	}
	bad := []string{
		"SET sql_mode='NO_BACKSLASH_ESCAPES'",
		"SET NAMES gbk",
		"INSERT INTO `u` (`a`) VALUES (1)",
		"INSERT INTO `t` (`a`) VALUES (1) ON DUPLICATE KEY UPDATE a=2",
		"INSERT INTO `t` (`a`) VALUES (1),((SELECT 1))",
		"INSERT INTO `t` (`a`) VALUES (CHAR(65))",
		"INSERT INTO `t` (`a`) VALUES ('unterminated)",
		"INSERT INTO `t` (`a`) VALUES (0x)",
		"INSERT INTO `t` (`a`) VALUES (1) /* x */",
		"INSERT INTO `t` (a) VALUES (1)",
		"INSERT INTO `t` (`a`) SELECT 1",
		"DO SLEEP(10)",
	}
	for _, st := range bad {
		if err := d.check(st); err == nil {
			t.Errorf("%q accepted", st)
		}
	}
}

// BenchmarkDataCheck measures the statement check on the kind of rows a
// Porta proxy_configs table holds: one statement of large JSON strings.
func BenchmarkDataCheck(b *testing.B) {
	cols := []column{{Name: "id", Kind: kindNumber}, {Name: "content"}, {Name: "blob", Kind: kindBinary}}
	var buf bytes.Buffer
	rw := &rowWriter{w: &buf, scratch: make([]byte, 0, 3*valuePiece+64)}
	buf.WriteString("INSERT INTO `proxy_configs` (`id`,`content`,`blob`) VALUES ")
	json := []byte(strings.Repeat(`{"proxy":{"hosts":["api.example.com"],"policy_chain":[{"name":"apicast","configuration":{}}]}}`+"\n", 400))
	for i := 0; i < 64; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		rw.row(cols, []sql.RawBytes{[]byte("12345"), json, []byte("\x00\x01binary")})
	}
	st := buf.String()
	d := newDataChecker("data/proxy_configs.00001.sql", "proxy_configs")
	if err := d.check(st); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(st)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.check(st); err != nil {
			b.Fatal(err)
		}
	}
}
