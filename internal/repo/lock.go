package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// DefaultLockTTL is how long a lock counts as held without a refresh.
// Holders refresh it every TTL/4.
const DefaultLockTTL = 30 * time.Minute

// LockInfo is the content of locks/<id>.json.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"` // backup, prune, restore
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	User      string    `json:"user,omitempty"`
	Created   time.Time `json:"created"`
	Refreshed time.Time `json:"refreshed"`

	be Backend // where it was found (the repository or --state-dir)
}

// Lock is a held exclusive repository lock.
type Lock struct {
	r    *Repository
	info LockInfo
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

func (r *Repository) lockTTL() time.Duration {
	if r.opts.LockTTL > 0 {
		return r.opts.LockTTL
	}
	return DefaultLockTTL
}

// stale reports whether a lock can no longer be held by a live process.
func (r *Repository) stale(l LockInfo, host string) bool {
	if r.opts.now().Sub(l.Refreshed) > r.lockTTL() {
		return true
	}
	if l.Host == host && l.PID > 0 && l.PID != os.Getpid() {
		return errors.Is(syscall.Kill(l.PID, 0), syscall.ESRCH)
	}
	return false
}

// Locks returns the locks present in the repository.
func (r *Repository) Locks(ctx context.Context) ([]LockInfo, error) {
	out, err := r.locksIn(ctx, r.be)
	if err != nil || r.state == nil {
		return out, err
	}
	more, err := r.locksIn(ctx, r.state)
	return append(out, more...), err
}

func (r *Repository) locksIn(ctx context.Context, be Backend) ([]LockInfo, error) {
	objs, err := be.List(ctx, locksDir)
	if err != nil {
		return nil, fmt.Errorf("list locks in %s: %w", be.Location(), err)
	}
	var out []LockInfo
	for _, o := range objs {
		rc, err := be.Get(ctx, o.Name)
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(io.LimitReader(rc, maxLockSize+1))
		rc.Close()
		name := strings.TrimSuffix(strings.TrimPrefix(o.Name, locksDir), ".json")
		l, derr := DecodeLock(name, raw)
		if err != nil || derr != nil {
			l = LockInfo{ID: name, Operation: "unreadable lock"}
		}
		l.be = be
		out = append(out, l)
	}
	return out, nil
}

// Lock takes the exclusive repository lock for operation (backup, prune,
// restore). A lock held by another run gives an errs.Locked error naming
// its holder. Stale locks (not refreshed within the TTL, or left by a dead
// process on this host) are removed only when unlockStale is set, and
// each removal is logged.
func (r *Repository) Lock(ctx context.Context, operation string, unlockStale bool) (*Lock, error) {
	host, _ := os.Hostname()
	if err := r.checkLocks(ctx, "", host, unlockStale); err != nil {
		return nil, err
	}
	now := r.opts.now().UTC()
	l := &Lock{r: r, stop: make(chan struct{}), info: LockInfo{
		ID: NewSnapshotID(now), Operation: operation, Host: host, PID: os.Getpid(),
		User: os.Getenv("USER"), Created: now, Refreshed: now,
	}}
	if err := l.write(ctx); err != nil {
		if r.state == nil && readOnly(err) {
			return nil, r.readOnlyError("write lock "+l.name(), operation, err)
		}
		return nil, fmt.Errorf("write lock in %s: %w", r.StateLocation(), err)
	}
	// Two runs may have written their locks at the same moment: both see
	// each other and both back off, which is safe.
	if err := r.checkLocks(ctx, l.info.ID, host, false); err != nil {
		_ = r.stateBE().Delete(context.WithoutCancel(ctx), l.name())
		return nil, err
	}
	l.wg.Add(1)
	go l.refresh()
	return l, nil
}

func (r *Repository) checkLocks(ctx context.Context, own, host string, unlockStale bool) error {
	locks, err := r.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		if l.ID == own {
			continue
		}
		stale := l.Operation != "unreadable lock" && r.stale(l, host)
		if stale && unlockStale {
			r.log.Warn("removing stale repository lock", "lock", l.ID, "operation", l.Operation,
				"host", l.Host, "pid", l.PID, "refreshed", l.Refreshed)
			if err := l.be.Delete(ctx, locksDir+l.ID+".json"); err != nil {
				return fmt.Errorf("remove stale lock %s: %w", l.ID, err)
			}
			continue
		}
		msg := fmt.Sprintf("repository %s is locked by %s on host %s (pid %d) since %s, last refreshed %s ago",
			r.Location(), l.Operation, l.Host, l.PID, l.Created.Format(time.RFC3339), r.opts.now().Sub(l.Refreshed).Round(time.Second))
		if l.be != nil && l.be != r.be {
			msg += " (lock kept in --state-dir " + l.be.Location() + ")"
		}
		hint := "wait for that run to finish; if it is gone, rerun with --unlock-stale once the lock is older than " + r.lockTTL().String()
		if stale {
			msg += "; the lock looks stale"
			hint = "if no other 3scale-ops is working on this repository, rerun with --unlock-stale"
		}
		if l.Operation == "unreadable lock" {
			msg = fmt.Sprintf("repository %s holds an unreadable lock %s%s.json", r.Location(), locksDir, l.ID)
			hint = "if no other 3scale-ops is working on this repository, delete that object"
		}
		return errs.New(errs.Locked, hint, "%s", msg)
	}
	return nil
}

func (l *Lock) name() string { return locksDir + l.info.ID + ".json" }

func (l *Lock) write(ctx context.Context) error {
	l.mu.Lock()
	body := marshal(l.info)
	l.mu.Unlock()
	return l.r.stateBE().Put(ctx, l.name(), bytes.NewReader(body))
}

func (l *Lock) refresh() {
	defer l.wg.Done()
	t := time.NewTicker(l.r.lockTTL() / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.info.Refreshed = l.r.opts.now().UTC()
			l.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), l.r.lockTTL()/4)
			if err := l.write(ctx); err != nil {
				l.r.log.Warn("could not refresh the repository lock", "lock", l.info.ID, "err", err)
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
			}
			cancel()
		}
	}
}

// Info returns the lock's content.
func (l *Lock) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Release stops refreshing and removes the lock.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	l.wg.Wait()
	if err := l.r.stateBE().Delete(ctx, l.name()); err != nil {
		return fmt.Errorf("release lock %s: %w (remove it with --unlock-stale later)", l.name(), err)
	}
	return nil
}
