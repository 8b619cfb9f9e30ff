package targetlock

import (
	"context"
	"database/sql"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"k8s.io/client-go/kubernetes"
)

// mustBeHeld checks err is the exit-4 error of a held lock that says who
// holds it and how to break it.
func mustBeHeld(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("the second acquire succeeded: two restores would run into one target")
	}
	if errs.Code(err) != errs.Locked {
		t.Fatalf("exit code %d, want %d (locked): %v", errs.Code(err), errs.Locked, err)
	}
	msg := err.Error() + " | " + errs.Hint(err)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("the error does not say %q: %s", w, msg)
		}
	}
}

func holders() (Holder, Holder) {
	a, b := NewHolder("restore", "20260101T000000Z-aaaaaa"), NewHolder("restore", "20260101T000000Z-bbbbbb")
	a.Host, b.Host = "host-a", "host-b"
	return a, b
}

func TestMySQLLock(t *testing.T) {
	ctx := context.Background()
	db := testenv.MySQL(t)
	open := func() *MySQL {
		h, err := sql.Open("mysql", db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		return &MySQL{DB: h, Database: db.Name, Server: db.Name}
	}
	ha, hb := holders()
	a, b := open(), open()
	if err := a.Acquire(ctx, ha); err != nil {
		t.Fatal(err)
	}
	mustBeHeld(t, b.Acquire(ctx, hb), "locked for a restore by connection", "KILL ")
	if err := a.Check(ctx); err != nil {
		t.Fatalf("check of a held lock: %v", err)
	}
	// The holder's session dies (a killed restore): the lock goes with it,
	// and the holder's check says so.
	var id int64
	if err := a.conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	admin, _ := sql.Open("mysql", db.DSN)
	defer admin.Close()
	if _, err := admin.Exec("KILL ?", id); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("check after the session was killed: %v, want ErrLost", err)
	}
	_ = a.Release(ctx)
	// KILL returns before the server has ended the session; once it has,
	// the lock is free.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var holder sql.NullInt64
		if err := admin.QueryRow("SELECT IS_USED_LOCK(?)", lockName(db.Name)).Scan(&holder); err != nil {
			t.Fatal(err)
		}
		if !holder.Valid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server has not ended killed connection %d after 10 s (the lock is held by %d)", id, holder.Int64)
		}
	}
	if err := b.Acquire(ctx, hb); err != nil {
		t.Fatalf("the lock of a dead session still blocks: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	c := open()
	if err := c.Acquire(ctx, ha); err != nil {
		t.Fatalf("a released lock still blocks: %v", err)
	}
	_ = c.Release(ctx)
}

func TestPostgresLock(t *testing.T) {
	ctx := context.Background()
	db := testenv.Postgres(t)
	cfg, err := pgx.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	ha, hb := holders()
	a, b := &Postgres{Config: cfg, Server: db.Name}, &Postgres{Config: cfg, Server: db.Name}
	if err := a.Acquire(ctx, ha); err != nil {
		t.Fatal(err)
	}
	mustBeHeld(t, b.Acquire(ctx, hb), "locked for a restore by backend pid", "3scale-ops restore host-a", "pg_terminate_backend(")
	// Another database of the same server is another target.
	other := testenv.Postgres(t)
	ocfg, _ := pgx.ParseConfig(other.URL)
	o := &Postgres{Config: ocfg, Server: other.Name}
	if err := o.Acquire(ctx, hb); err != nil {
		t.Fatalf("a lock on one database blocks another: %v", err)
	}
	_ = o.Release(ctx)

	var pid int32
	if err := a.conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// The timeout makes pg_terminate_backend wait until the backend is gone.
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1, 60000)", pid); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("check after the session was terminated: %v, want ErrLost", err)
	}
	_ = a.Release(ctx)
	if err := b.Acquire(ctx, hb); err != nil {
		t.Fatalf("the lock of a dead session still blocks: %v", err)
	}
	_ = b.Release(ctx)
}

func TestRedisLock(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	opts, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	db, ok := LockDB(ctx, opts, []int{0, 1})
	if !ok || db != 15 {
		t.Fatalf("LockDB = %d, %v; want 15 (the highest db no URL names)", db, ok)
	}
	if db, _ := LockDB(ctx, opts, []int{15, 0}); db != 14 {
		t.Fatalf("LockDB with db 15 in use = %d, want 14", db)
	}
	ha, hb := holders()
	a, b := &Redis{Options: opts, DB: db, Server: srv.Addr}, &Redis{Options: opts, DB: db, Server: srv.Addr}
	if err := a.Acquire(ctx, ha); err != nil {
		t.Fatal(err)
	}
	mustBeHeld(t, b.Acquire(ctx, hb), "by restore of 20260101T000000Z-aaaaaa", "on host host-a", "DEL "+RedisKey, "-n 15")

	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: db})
	defer c.Close()
	if ttl := c.PTTL(ctx, RedisKey).Val(); ttl <= 0 || ttl > DefaultTTL {
		t.Fatalf("lock key TTL %s, want (0, %s]", ttl, DefaultTTL)
	}
	// A FLUSHALL (or a server restarted on another dump.rdb) removes the
	// key: the next check puts it back, still ours.
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx); err != nil {
		t.Fatalf("check after FLUSHALL: %v", err)
	}
	mustBeHeld(t, b.Acquire(ctx, hb), "host-a")
	// Someone else's value (the key expired and was taken): lost.
	if err := c.Set(ctx, RedisKey, hb.marshal(), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx); !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "host-b") {
		t.Fatalf("check with the key taken over: %v, want ErrLost naming host-b", err)
	}
	// Release never deletes someone else's key.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, RedisKey).Val(); v != hb.marshal() {
		t.Fatalf("release removed another holder's key (now %q)", v)
	}
}

func TestLeaseLock(t *testing.T) {
	ctx := context.Background()
	ns := testenv.Namespace(t)
	cs, err := kubernetes.NewForConfig(testenv.KubeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ha, hb := holders()
	var warned []string
	a := &Lease{Client: cs, Namespace: ns}
	b := &Lease{Client: cs, Namespace: ns, Warn: func(m string) { warned = append(warned, m) }}
	if err := a.Acquire(ctx, ha); err != nil {
		t.Fatal(err)
	}
	mustBeHeld(t, b.Acquire(ctx, hb), "namespace "+ns+" is locked by restore of 20260101T000000Z-aaaaaa", "host-a", "kubectl -n "+ns+" delete lease "+LeaseName)
	if err := a.Check(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	// Past its duration the Lease is taken over (its holder stopped
	// renewing), and the old holder finds out on its next check.
	b.now = func() time.Time { return time.Now().Add(DefaultTTL + time.Minute) }
	if err := b.Acquire(ctx, hb); err != nil {
		t.Fatalf("taking over an expired Lease: %v", err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "host-a") {
		t.Fatalf("take-over warnings %q, want one naming the previous holder", warned)
	}
	if err := a.Check(ctx); !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "host-b") {
		t.Fatalf("check after the take-over: %v, want ErrLost naming host-b", err)
	}
	if err := a.Release(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("release of a lost Lease: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Acquire(ctx, ha); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	_ = a.Release(ctx)
}

// A Set whose lock is lost cancels the restore's context with an exit-4
// cause naming the lock.
func TestSetCancelsWhenLost(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	opts, _ := redis.ParseURL(srv.URL)
	ha, hb := holders()
	l := &Redis{Options: opts, DB: 15, Server: srv.Addr}
	lctx, set, err := Acquire(ctx, []Lock{l}, ha, Options{Every: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Release(ctx)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 15})
	defer c.Close()
	if err := c.Set(ctx, RedisKey, hb.marshal(), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("the restore's context was not cancelled after its lock was lost")
	}
	cause := context.Cause(lctx)
	if errs.Code(cause) != errs.Locked || !strings.Contains(cause.Error(), "lost its lock on Redis") {
		t.Fatalf("cause %v (code %d), want a locked error naming the Redis lock", cause, errs.Code(cause))
	}
}

// Acquire releases what it took when a later lock is held.
func TestAcquireAllOrNothing(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	opts, _ := redis.ParseURL(srv.URL)
	ha, hb := holders()
	other := &Redis{Options: opts, DB: 14, Server: srv.Addr}
	if err := other.Acquire(ctx, hb); err != nil {
		t.Fatal(err)
	}
	first := &Redis{Options: opts, DB: 15, Server: srv.Addr}
	_, _, err := Acquire(ctx, []Lock{first, &Redis{Options: opts, DB: 14, Server: srv.Addr}}, ha, Options{})
	mustBeHeld(t, err, "host-b")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 15})
	defer c.Close()
	if n := c.Exists(ctx, RedisKey).Val(); n != 0 {
		t.Fatal("the first lock was kept after the second was refused")
	}
}

// A restore killed on this host leaves its Redis key behind: the next
// restore on this host sees its process is gone and takes the key over
// (on another host it waits for the TTL).
func TestRedisLockOfAKilledRestore(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	opts, _ := redis.ParseURL(srv.URL)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead, alive := NewHolder("restore", "x"), NewHolder("restore", "y")
	dead.PID = cmd.Process.Pid
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 15})
	defer c.Close()
	other := alive
	other.Host = "elsewhere"
	other.PID = dead.PID
	if err := c.Set(ctx, RedisKey, other.marshal(), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	l := &Redis{Options: opts, DB: 15, Server: srv.Addr}
	mustBeHeld(t, l.Acquire(ctx, alive), "on host elsewhere")
	if err := c.Set(ctx, RedisKey, dead.marshal(), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(ctx, alive); err != nil {
		t.Fatalf("the key of a dead process of this host still blocks: %v", err)
	}
	if v := c.Get(ctx, RedisKey).Val(); v != alive.marshal() {
		t.Fatalf("key after take-over %q", v)
	}
	_ = l.Release(ctx)
}
