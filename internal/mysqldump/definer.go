package mysqldump

import (
	"context"
	"database/sql"
	"regexp"
	"strings"
)

// definerOf returns the DEFINER clause of a CREATE statement's header
// ("DEFINER=`u`@`h`"), or "".
func definerOf(ddl string) string {
	head := ddl
	if i := headerEnd(ddl); i >= 0 {
		head = ddl[:i]
	}
	return strings.TrimSpace(definerRe.FindString(head))
}

var definerPartsRe = regexp.MustCompile("^(?i)DEFINER\\s*=\\s*(`(?:[^`]|``)*`|'(?:[^']|'')*'|\"[^\"]*\"|[^@\\s]+)@(`(?:[^`]|``)*`|'(?:[^']|'')*'|\"[^\"]*\"|\\S+)$")

// definerAccount splits a DEFINER clause into user and host.
func definerAccount(clause string) (user, host string, ok bool) {
	m := definerPartsRe.FindStringSubmatch(clause)
	if m == nil {
		return "", "", false
	}
	return unquoteName(m[1]), unquoteName(m[2]), true
}

func unquoteName(s string) string {
	if len(s) >= 2 {
		switch q := s[0]; q {
		case '`', '\'', '"':
			if s[len(s)-1] == q {
				return strings.ReplaceAll(s[1:len(s)-1], string([]byte{q, q}), string(q))
			}
		}
	}
	return s
}

// withDefiner puts a DEFINER clause back where CREATE statements take it:
// after CREATE, or after a view's ALGORITHM=….
func withDefiner(stmt, clause string) string {
	rest, ok := strings.CutPrefix(stmt, "CREATE ")
	if !ok {
		return stmt
	}
	if a, ok := strings.CutPrefix(rest, "ALGORITHM="); ok {
		word, tail, _ := strings.Cut(a, " ")
		return "CREATE ALGORITHM=" + word + " " + clause + " " + tail
	}
	return "CREATE " + clause + " " + rest
}

// definers decides, for the restoring session, which recorded DEFINERs
// can be kept: all of them need the SUPER or SET USER privilege, and each
// its account on the target. The others are left out, so the object runs
// as the restoring user.
type definers struct {
	ctx       context.Context
	c         *sql.Conn
	permitted bool
	exists    map[string]bool
}

func newDefiners(ctx context.Context, c *sql.Conn) *definers {
	d := &definers{ctx: ctx, c: c, exists: map[string]bool{}}
	var n int
	err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES
		WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')
		AND PRIVILEGE_TYPE IN ('SUPER', 'SET USER')`).Scan(&n)
	d.permitted = err == nil && n > 0
	return d
}

// keep reports whether clause can be used on the target.
func (d *definers) keep(clause string) bool {
	if !d.permitted || clause == "" {
		return false
	}
	user, host, ok := definerAccount(clause)
	if !ok {
		return false
	}
	k := user + "\x00" + host
	if v, ok := d.exists[k]; ok {
		return v
	}
	var n int
	err := d.c.QueryRowContext(d.ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", user, host).Scan(&n)
	d.exists[k] = err == nil && n > 0
	return d.exists[k]
}
