package seed

import (
	"context"
	"sync"
)

// fanOut feeds items to n workers and returns the first error. Each worker
// is set up once by start (its own connection, say), which returns the
// function that handles one item and a cleanup; after the first error no
// further item is handed out.
func fanOut[T any](ctx context.Context, n int, items []T, start func() (handle func(T) error, done func(), err error)) error {
	work := make(chan T)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle, done, err := start()
			if err != nil {
				fail(err)
				for range work {
				}
				return
			}
			if done != nil {
				defer done()
			}
			for it := range work {
				if err := handle(it); err != nil {
					fail(err)
				}
			}
		}()
	}
	for _, it := range items {
		if failed() || ctx.Err() != nil {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
