package targetlock

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// lockName is the name of a database's restore lock.
func lockName(database string) string {
	n := "3scale-ops restore " + database
	if len(n) > 64 { // MySQL's limit for GET_LOCK names
		sum := sha256.Sum256([]byte(database))
		n = "3scale-ops restore " + hex.EncodeToString(sum[:16])
	}
	return n
}

// MySQL locks a database with GET_LOCK on a connection of its own, held
// until Release or until the session ends (a killed restore's session
// ends with its TCP connection, so no lock outlives its holder).
type MySQL struct {
	DB       *sql.DB // closed by Release
	Database string  // the lock's name is derived from it
	Server   string  // for messages (redacted URL)

	conn *sql.Conn
}

func (m *MySQL) Name() string { return "MySQL database " + m.Server }

func (m *MySQL) Acquire(ctx context.Context, h Holder) error {
	conn, err := m.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: connect: %w", m.Name(), err)
	}
	name := lockName(m.Database)
	var id sql.NullInt64
	for attempt := 1; ; attempt++ {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
			conn.Close()
			return fmt.Errorf("lock %s: GET_LOCK: %w", m.Name(), err)
		}
		if got.Valid && got.Int64 == 1 {
			m.conn = conn
			return nil
		}
		// Held: by whom? Nobody, when the holder's session ended between
		// the two queries (a killed restore's session is ended by the
		// server a moment after the kill): try again.
		if err := conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", name).Scan(&id); err != nil || id.Valid || attempt == 3 {
			break
		}
	}
	defer conn.Close()
	who := "another session"
	if id.Valid {
		who = fmt.Sprintf("connection %d", id.Int64)
		var user, host string
		var secs int64
		if conn.QueryRowContext(ctx, "SELECT USER, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = ?", id.Int64).Scan(&user, &host, &secs) == nil {
			who += fmt.Sprintf(" (%s@%s, connected for %ds)", user, host, secs)
		}
	}
	hint := "wait for that restore to finish; a lock whose holder died goes away with its session; to break it now, end that session (`KILL <connection>` as a MySQL admin)"
	if id.Valid {
		hint = fmt.Sprintf("wait for that restore to finish; a lock whose holder died goes away with its session; to break it now: `KILL %d` as a MySQL admin", id.Int64)
	}
	return held(hint, "%s is locked for a restore by %s (GET_LOCK %q)", m.Name(), who, name)
}

func (m *MySQL) Check(ctx context.Context) error {
	if m.conn == nil {
		return fmt.Errorf("%s: %w", m.Name(), ErrLost)
	}
	var mine sql.NullBool
	err := m.conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?) = CONNECTION_ID()", lockName(m.Database)).Scan(&mine)
	if err != nil {
		// The lock lives and dies with this session: a failed query on it
		// means the session (and with it the lock) is gone or going.
		return fmt.Errorf("%s: the lock's session failed (%v): %w", m.Name(), err, ErrLost)
	}
	if !mine.Valid || !mine.Bool {
		return fmt.Errorf("%s: GET_LOCK is no longer held by this session: %w", m.Name(), ErrLost)
	}
	return nil
}

func (m *MySQL) Release(ctx context.Context) error {
	defer m.DB.Close()
	if m.conn == nil {
		return nil
	}
	defer m.conn.Close()
	_, err := m.conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", lockName(m.Database))
	return err
}

// advisoryKey is the PostgreSQL advisory lock key of a restore (advisory
// locks are per database already).
func advisoryKey() int64 {
	sum := sha256.Sum256([]byte("3scale-ops restore target"))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// Postgres locks a database with a session-level advisory lock on a
// connection of its own (application_name names the holder).
type Postgres struct {
	Config *pgx.ConnConfig
	Server string // for messages (redacted URL)

	conn *pgx.Conn
}

func (p *Postgres) Name() string { return "PostgreSQL database " + p.Server }

func (p *Postgres) Acquire(ctx context.Context, h Holder) error {
	cfg := p.Config.Copy()
	app := fmt.Sprintf("3scale-ops restore %s pid %d", h.Host, h.PID)
	if len(app) > 63 {
		app = app[:63]
	}
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("lock %s: connect: %w", p.Name(), err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", advisoryKey()).Scan(&got); err != nil {
		conn.Close(ctx)
		return fmt.Errorf("lock %s: pg_try_advisory_lock: %w", p.Name(), err)
	}
	if got {
		p.conn = conn
		return nil
	}
	defer conn.Close(ctx)
	k := uint64(advisoryKey())
	who, hint := "another session", "wait for that restore to finish; a lock whose holder died goes away with its session"
	var pid int32
	var app2, user, addr, since *string
	err = conn.QueryRow(ctx, `SELECT l.pid, a.application_name, a.usename::text, host(a.client_addr), to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1`, int64(k>>32), int64(k&0xffffffff)).Scan(&pid, &app2, &user, &addr, &since)
	if err == nil {
		who = fmt.Sprintf("backend pid %d", pid)
		if app2 != nil && *app2 != "" {
			who += fmt.Sprintf(" (%q", *app2)
			if user != nil {
				who += " as " + *user
			}
			if addr != nil {
				who += " from " + *addr
			}
			if since != nil {
				who += " since " + *since
			}
			who += ")"
		}
		hint += fmt.Sprintf("; to break it now: `SELECT pg_terminate_backend(%d)` as a PostgreSQL admin", pid)
	}
	return held(hint, "%s is locked for a restore by %s (advisory lock %d)", p.Name(), who, advisoryKey())
}

func (p *Postgres) Check(ctx context.Context) error {
	if p.conn == nil || p.conn.IsClosed() {
		return fmt.Errorf("%s: the lock's session ended: %w", p.Name(), ErrLost)
	}
	if _, err := p.conn.Exec(ctx, "SELECT 1"); err != nil {
		// The lock lives and dies with this session.
		return fmt.Errorf("%s: the lock's session failed (%v): %w", p.Name(), err, ErrLost)
	}
	return nil
}

func (p *Postgres) Release(ctx context.Context) error {
	if p.conn == nil {
		return nil
	}
	defer p.conn.Close(ctx)
	_, err := p.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", advisoryKey())
	return err
}
