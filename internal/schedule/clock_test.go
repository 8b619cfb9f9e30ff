package schedule

import (
	"sync"
	"time"
)

// manualClock is a Clock that moves only when the test says so.
type manualClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock(t time.Time) *manualClock {
	c := &manualClock{now: t}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	c.cond.Broadcast()
	return ch
}

// Advance moves the clock and wakes every waiter that is due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// WaitFor blocks until someone waits for the clock to reach at.
func (c *manualClock) WaitFor(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for _, w := range c.waiters {
			if w.at.Equal(at) {
				return
			}
		}
		c.cond.Wait()
	}
}
