package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/3scale-ops/3scale-ops/internal/storage"
)

var ctx = context.Background()

func TestRunCommitsAllComponents(t *testing.T) {
	r := sharedS3Repo(t, repo.Options{Compression: "zstd"})
	tr := &progress.Tracker{}
	comps := []Component{
		&genComponent{name: "backend-redis", files: 2, size: 3 << 20},
		&genComponent{name: "system-mysql", files: 5, size: 100 << 10},
		&genComponent{name: "configmaps", files: 1, size: 10},
	}
	m, err := Run(ctx, r, comps, Options{Workers: 2, Tags: map[string]string{"reason": "test"}, Namespace: "3scale", Tracker: tr})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.ComponentNames(), ","); got != "backend-redis,configmaps,system-mysql" {
		t.Fatalf("components %s", got)
	}
	for _, s := range tr.Stats() {
		if !s.Done || s.Phase != "done" || s.Bytes == 0 {
			t.Errorf("task %+v", s)
		}
	}
	res, err := r.Verify(ctx, m.ID, true, nil)
	if err != nil || len(res.Problems) != 0 || res.Files != 8 {
		t.Fatalf("verify %+v %v", res, err)
	}
	if l, _ := r.Locks(ctx); len(l) != 0 {
		t.Fatalf("lock not released: %+v", l)
	}
}

func TestSecretsWarning(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	r := localRepo(t, repo.Options{})
	if _, err := Run(ctx, r, []Component{&genComponent{name: "secrets", files: 1, size: 5}}, Options{Logger: log}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "unencrypted repository"); n != 1 {
		t.Fatalf("warned %d times:\n%s", n, logs.String())
	}
	logs.Reset()
	enc := localRepo(t, repo.Options{Keys: repo.Keys{Passphrase: "pw", ScryptWorkFactor: 10}})
	if _, err := Run(ctx, enc, []Component{&genComponent{name: "secrets", files: 1, size: 5}}, Options{Logger: log}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "unencrypted") {
		t.Fatalf("warned for an encrypted repository:\n%s", logs.String())
	}
}

func TestFailingComponentCommitsNothing(t *testing.T) {
	src := t.TempDir()
	for i := 0; i < 20; i++ {
		_ = os.WriteFile(filepath.Join(src, "f"+string(rune('a'+i))), bytes.Repeat([]byte("x"), 50000), 0o644)
	}
	r := localRepo(t, repo.Options{})
	comps := []Component{
		storage.New(storage.Location{Kind: "dir", Path: src}, nil, "", storage.Options{}), // a real engine
		&genComponent{name: "system-mysql", files: 3, size: 1 << 20, failAfter: 1200 << 10},
		&genComponent{name: "backend-redis", files: 1, size: 50 << 20, throttle: time.Millisecond},
	}
	start := time.Now()
	_, err := Run(ctx, r, comps, Options{})
	if err == nil {
		t.Fatal("backup with a failing component succeeded")
	}
	if !strings.Contains(err.Error(), "backup of system-mysql failed") || !strings.Contains(err.Error(), "connection reset") ||
		!strings.Contains(err.Error(), "not committed") {
		t.Fatalf("error does not name the component and cause: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("the other components were not cancelled (took %s)", time.Since(start))
	}
	objs, _ := r.Backend().List(ctx, "")
	for _, o := range objs {
		if o.Name != "config.json" {
			t.Errorf("left behind: %s", o.Name)
		}
	}
}

func TestCancelledBackupCommitsNothing(t *testing.T) {
	r := sharedS3Repo(t, repo.Options{})
	started := make(chan struct{})
	comp := &genComponent{name: "system-storage", files: 1, size: 1 << 30, started: started, throttle: time.Millisecond}
	cctx, cancel := context.WithCancel(ctx)
	go func() { <-started; time.Sleep(200 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := Run(cctx, r, []Component{comp, &genComponent{name: "configmaps", files: 1, size: 100}}, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %s", d)
	}
	objs, _ := r.Backend().List(ctx, "")
	if len(objs) != 1 {
		t.Fatalf("objects after cancel: %+v", objs)
	}
}

func TestConcurrentBackupIsLocked(t *testing.T) {
	r := localRepo(t, repo.Options{})
	hold, started := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := Run(ctx, r, []Component{&genComponent{name: "system-redis", files: 1, size: 100 << 10, started: started, hold: hold}}, Options{})
		first <- err
	}()
	<-started
	_, err := Run(ctx, r, []Component{&genComponent{name: "system-redis", files: 1, size: 10}}, Options{})
	if errs.Code(err) != errs.Locked || !strings.Contains(err.Error(), "locked by backup") {
		t.Fatalf("second backup: %v (exit %d), want exit 4", err, errs.Code(err))
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if snaps, _ := r.Snapshots(ctx); len(snaps) != 1 {
		t.Fatalf("snapshots %+v", snaps)
	}
}

// The S3 server dies in the middle of an upload: the backup fails, no
// snapshot is visible, and once the server is back the next backup
// succeeds (after the stale lock is cleared) and prune removes the debris.
func TestS3ServerKilledMidBackup(t *testing.T) {
	m := startMinio(t)
	opts := repo.Options{LockTTL: 2 * time.Second}
	r, err := repo.Init(ctx, m.backend(), opts)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	comp := &genComponent{name: "backend-redis", files: 1, size: 200 << 20, started: started, throttle: 2 * time.Millisecond}
	small := &genComponent{name: "configmaps", files: 1, size: 1000}
	go func() {
		<-started
		time.Sleep(time.Second) // at least one 5 MiB part uploaded
		m.kill()
	}()
	_, err = Run(ctx, r, []Component{comp, small}, Options{})
	if err == nil {
		t.Fatal("backup succeeded although the S3 server was killed")
	}
	t.Logf("backup error: %v", err)
	if !strings.Contains(err.Error(), "backend-redis") {
		t.Errorf("error does not name the component: %v", err)
	}
	m.start()
	r, err = repo.Open(ctx, m.backend(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ResolveID(ctx, "latest"); err == nil {
		t.Fatal("a snapshot is visible after the failed backup")
	}
	time.Sleep(2100 * time.Millisecond) // any lock left is stale now
	man, err := Run(ctx, r, []Component{&genComponent{name: "backend-redis", files: 1, size: 6 << 20}}, Options{UnlockStale: true})
	if err != nil {
		t.Fatalf("next backup: %v", err)
	}
	src, _ := r.Source(man, "backend-redis")
	rc, err := src.Open(ctx, "part-0.bin")
	if err != nil {
		t.Fatal(err)
	}
	want := artifact.NewMemory()
	_ = (&genComponent{name: "x", files: 1, size: 6 << 20}).Backup(ctx, want, nil)
	if got := sha(rc); got != sha(bytes.NewReader(want.Bytes("part-0.bin"))) {
		t.Fatal("restored content differs")
	}
	rc.Close()
	lock, err := r.Lock(ctx, "prune", false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Prune(ctx, repo.Policy{Last: 10}, repo.PruneOptions{})
	_ = lock.Release(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snaps, _ := r.Snapshots(ctx)
	if len(snaps) != 1 || snaps[0].ID != man.ID {
		t.Fatalf("after prune: %+v (removed %v)", snaps, res.Removed)
	}
	t.Logf("prune removed incomplete %v", res.Removed)
}

func TestSelect(t *testing.T) {
	all := []string{"secrets", "system-mysql", "system-storage"}
	broken := false
	build := func(n string) (Component, error) {
		if n == "system-mysql" {
			return nil, errs.Wrap(errs.Usage, fmt.Errorf("--system-db-url is not set: %w", errs.ErrNotConfigured), "give --system-db-url")
		}
		if n == "system-storage" && broken {
			return nil, errs.New(errs.Failure, "", "reading ConfigMap system-environment: forbidden")
		}
		return &genComponent{name: n}, nil
	}
	_, err := Select([]string{"system-mysql", "nope"}, all, build, nil)
	if errs.Code(err) != errs.Usage || !strings.Contains(errs.Hint(err), "system-mysql, system-storage") || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown: %v (hint %q)", err, errs.Hint(err))
	}
	// Without names, components that cannot be built are left out.
	comps, err := Select(nil, all, build, nil)
	if err != nil || len(comps) != 2 || comps[0].Name() != "secrets" || comps[1].Name() != "system-storage" {
		t.Fatalf("default: %v %v", comps, err)
	}
	// A component that fails for another reason fails the backup: an
	// incomplete snapshot must not look like a success.
	broken = true
	if _, err := Select(nil, all, build, nil); err == nil || !strings.Contains(err.Error(), "system-storage") {
		t.Fatalf("a failing component was left out silently: %v", err)
	}
	broken = false
	// Named explicitly, they are an error.
	if _, err := Select([]string{"system-mysql"}, all, build, nil); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("explicit unavailable: %v", err)
	}
	if _, err := Select([]string{"secrets", "secrets"}, all, build, nil); errs.Code(err) != errs.Usage {
		t.Fatalf("duplicate: %v", err)
	}
}
