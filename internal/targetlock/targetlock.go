// Package targetlock holds the locks on the targets of a restore, so that
// two restores into the same target (from two copies of a repository, or
// from two repositories) never run at once: a coordination.k8s.io Lease in
// the namespace, MySQL GET_LOCK and a PostgreSQL advisory lock held on a
// session of their own, and a Redis key with a TTL and a fencing value.
//
// A lock is taken without waiting: a held one is an errs.Locked error (exit
// 4) naming its holder and how to break it when it is stale. While held,
// every lock is checked (and refreshed where it expires) in the
// background; a lock found lost cancels the restore's context with an
// errs.Locked cause. It never changes the data of a target.
package targetlock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
)

// DefaultTTL is how long a lock that expires (Lease, Redis key) lives
// without a refresh; holders refresh it every DefaultTTL/6.
const DefaultTTL = 2 * time.Minute

// ErrLost is wrapped by Check when the lock is definitely no longer held
// (taken over, deleted, its session gone).
var ErrLost = errors.New("lock lost")

// Holder says who holds a lock: written into the lock where the lock can
// carry it (Lease, Redis value, PostgreSQL application_name).
type Holder struct {
	ID        string    `json:"id"` // random; the fencing value
	Operation string    `json:"operation"`
	Snapshot  string    `json:"snapshot,omitempty"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	User      string    `json:"user,omitempty"`
	Since     time.Time `json:"since"`
}

// NewHolder describes this process running operation on snapshot.
func NewHolder(operation, snapshot string) Holder {
	host, _ := os.Hostname()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return Holder{ID: hex.EncodeToString(b), Operation: operation, Snapshot: snapshot, Host: host,
		PID: os.Getpid(), User: os.Getenv("USER"), Since: time.Now().UTC().Truncate(time.Second)}
}

// String is the holder for messages: "restore of S by user on host h (pid 1) since T".
func (h Holder) String() string {
	s := h.Operation
	if h.Snapshot != "" {
		s += " of " + h.Snapshot
	}
	if h.User != "" {
		s += " by " + h.User
	}
	s += fmt.Sprintf(" on host %s (pid %d)", h.Host, h.PID)
	if !h.Since.IsZero() {
		s += " since " + h.Since.Format(time.RFC3339)
	}
	return s
}

// gone reports whether the holder is a process of this host that no
// longer exists (a killed restore): its lock can be taken over at once.
func (h Holder) gone() bool {
	host, _ := os.Hostname()
	if h.Host != host || h.PID <= 0 || h.PID == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(h.PID, 0), syscall.ESRCH)
}

func (h Holder) marshal() string {
	b, _ := json.Marshal(h)
	return string(b)
}

func parseHolder(s string) (Holder, bool) {
	var h Holder
	if json.Unmarshal([]byte(s), &h) != nil || h.ID == "" {
		return Holder{}, false
	}
	return h, true
}

// Lock is one target's lock.
type Lock interface {
	// Name says what is locked, for messages ("namespace 3scale").
	Name() string
	// Acquire takes the lock without waiting; a held lock gives an
	// errs.Locked error naming the holder and how to break a stale one.
	Acquire(ctx context.Context, h Holder) error
	// Check confirms the lock is still held and refreshes it where it
	// expires. An error wrapping ErrLost is final; others may pass.
	Check(ctx context.Context) error
	// Release gives the lock up (only if still held by us).
	Release(ctx context.Context) error
}

// Set is the held locks of one restore.
type Set struct {
	locks  []Lock
	every  time.Duration
	log    *slog.Logger
	cancel context.CancelCauseFunc
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// Options tune Acquire; zero values are the defaults.
type Options struct {
	Every  time.Duration // how often the locks are checked (DefaultTTL/6)
	Misses int           // consecutive failed checks that count as lost (3)
	Logger *slog.Logger
}

// Acquire takes every lock, in order; if one is held, those already taken
// are released and its error is returned. The returned context is
// cancelled, with an errs.Locked cause, when a lock is lost.
func Acquire(ctx context.Context, locks []Lock, h Holder, o Options) (context.Context, *Set, error) {
	if o.Every <= 0 {
		o.Every = DefaultTTL / 6
	}
	if o.Misses <= 0 {
		o.Misses = 3
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Set{every: o.Every, log: o.Logger, stop: make(chan struct{})}
	for i, l := range locks {
		if err := l.Acquire(ctx, h); err != nil {
			for j := i - 1; j >= 0; j-- {
				if rerr := locks[j].Release(context.WithoutCancel(ctx)); rerr != nil {
					o.Logger.Warn("could not release a target lock", "lock", locks[j].Name(), "err", rerr)
				}
			}
			return ctx, nil, err
		}
		s.locks = append(s.locks, l)
	}
	lctx, cancel := context.WithCancelCause(ctx)
	s.cancel = cancel
	s.wg.Add(1)
	go s.watch(lctx, o.Misses)
	return lctx, s, nil
}

func (s *Set) watch(ctx context.Context, misses int) {
	defer s.wg.Done()
	t := time.NewTicker(s.every)
	defer t.Stop()
	failed := make([]int, len(s.locks))
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, l := range s.locks {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.every)
			err := l.Check(cctx)
			cancel()
			if err == nil {
				failed[i] = 0
				continue
			}
			failed[i]++
			s.log.Warn("could not confirm a target lock", "lock", l.Name(), "err", err)
			if errors.Is(err, ErrLost) || failed[i] >= misses {
				s.cancel(errs.New(errs.Locked, "find out who took the target over before anything else; when it is yours again, continue with `restore --resume`",
					"the restore lost its lock on %s: %v", l.Name(), err))
				return
			}
		}
	}
}

// Release stops checking and gives every lock up; errors are returned
// joined (a lock that expires goes away by itself).
func (s *Set) Release(ctx context.Context) error {
	if s == nil {
		return nil
	}
	var all []error
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		for i := len(s.locks) - 1; i >= 0; i-- {
			if err := s.locks[i].Release(ctx); err != nil {
				all = append(all, fmt.Errorf("release the lock on %s: %w", s.locks[i].Name(), err))
			}
		}
		if s.cancel != nil {
			s.cancel(nil)
		}
	})
	return errors.Join(all...)
}

// Names lists what the set holds.
func (s *Set) Names() []string {
	var out []string
	for _, l := range s.locks {
		out = append(out, l.Name())
	}
	return out
}

func held(hint, format string, a ...any) error {
	return errs.New(errs.Locked, hint, format, a...)
}
