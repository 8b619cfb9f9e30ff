package rdb

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// blockingReader returns its data in small reads; a read blocks while
// gate is held, and no read may start once closed is set.
type blockingReader struct {
	r       io.Reader
	gate    chan struct{}
	inRead  atomic.Bool
	closed  atomic.Bool
	lateErr atomic.Bool
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.closed.Load() {
		b.lateErr.Store(true)
	}
	b.inRead.Store(true)
	defer b.inRead.Store(false)
	<-b.gate
	return b.r.Read(p[:min(len(p), 1000)])
}

// The read-ahead delivers the source's bytes in order, and Stop returns
// only once its goroutine has left the source's Read: the caller may close
// the source right after it.
func TestReadAheadStopWaitsForTheReader(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1<<18)
	src := &blockingReader{r: bytes.NewReader(data), gate: make(chan struct{})}
	close(src.gate)
	ra := newReadAhead(src)
	got, err := io.ReadAll(ra)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(data))
	}
	ra.Stop()

	src = &blockingReader{r: bytes.NewReader(data), gate: make(chan struct{})}
	ra = newReadAhead(src)
	for !src.inRead.Load() {
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { ra.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while the goroutine was still in the source's Read")
	case <-time.After(50 * time.Millisecond):
	}
	close(src.gate)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after the source's Read did")
	}
	src.closed.Store(true)
	time.Sleep(20 * time.Millisecond)
	if src.lateErr.Load() {
		t.Fatal("the source was read after Stop returned")
	}
}
