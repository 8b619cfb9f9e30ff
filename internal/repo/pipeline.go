package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"strings"

	"filippo.io/age"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// hashCounter hashes and counts the bytes written through it.
type hashCounter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func newHashCounter(w io.Writer) *hashCounter { return &hashCounter{w: w, h: sha256.New()} }

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func (c *hashCounter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func suffix(compression string) string {
	switch compression {
	case "zstd":
		return ".zst"
	case "gzip":
		return ".gz"
	}
	return ""
}

func (r *Repository) compressor(w io.Writer) (io.WriteCloser, error) {
	switch r.opts.Compression {
	case "zstd":
		threads := r.opts.Threads
		if threads <= 0 {
			threads = min(runtime.GOMAXPROCS(0), 4)
		}
		// A 2 MiB window (zstd -3's) keeps many concurrent files (parallel
		// SQL workers) within the memory budget: the encoder's
		// history holds two windows, 4 MiB. Not the lower-memory encoder:
		// its history holds one window and a block, so it moves the whole
		// window down for every 128 KiB block (a 4 MiB window: 32 bytes
		// copied per byte compressed, half the CPU of a backup).
		if e, ok := r.encoders.Get().(*zstd.Encoder); ok {
			e.Reset(w)
			return e, nil
		}
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(threads), zstd.WithWindowSize(2<<20),
			zstd.WithEncoderLevel(zstdLevel(r.opts.Level)))
	case "gzip":
		level := r.opts.Level
		if level == 0 {
			level = gzip.DefaultCompression
		}
		return gzip.NewWriterLevel(w, level)
	}
	return nopWriteCloser{w}, nil
}

// zstdLevel is the encoder for a --compression-level; 0 is level 1, the
// fastest. On the generator's 1 GB installation (BENCHMARKS.md), against
// level 3 (zstd's own default): the compressor ran 1.5× as fast on the
// PostgreSQL dump for a smaller file (31.0 against 32.7 MB) and 1.2× on
// the backend-redis RDB (24.4 against 23.8 MB); a whole MySQL backup took
// a fifth less CPU (125 against 124 MB). On two cores the compressor is
// what a backup waits for, and level 1 is still smaller than gzip -6
// (bench/mysql: 68 against 95 MB).
func zstdLevel(level int) zstd.EncoderLevel {
	if level == 0 {
		return zstd.SpeedFastest
	}
	return zstd.EncoderLevelFromZstd(level)
}

// pipeWriter is one file being stored: plain bytes are hashed, compressed,
// encrypted, hashed again and streamed to Backend.Put through a pipe, so
// nothing is buffered beyond the compressor's window and the backend's
// part buffer.
type pipeWriter struct {
	entry  FileEntry
	plain  *hashCounter
	comp   io.WriteCloser
	enc    io.WriteCloser
	stored *hashCounter
	pw     *io.PipeWriter
	done   chan error
	r      *Repository
	// released: finished or aborted, the stages are gone.
	released bool
	err      error
}

func (r *Repository) newPipeWriter(ctx context.Context, object string) (*pipeWriter, error) {
	pr, pw := io.Pipe()
	p := &pipeWriter{pw: pw, done: make(chan error, 1), r: r}
	go func() {
		err := r.be.Put(ctx, object, pr)
		pr.CloseWithError(errOrClosed(err))
		p.done <- err
	}()
	p.stored = newHashCounter(pw)
	var err error
	var encOut io.Writer = p.stored
	if r.Encrypted() {
		if p.enc, err = age.Encrypt(p.stored, r.rcpts...); err != nil {
			p.abort(err)
			return nil, err
		}
		encOut = p.enc
	} else {
		p.enc = nopWriteCloser{p.stored}
	}
	if p.comp, err = r.compressor(encOut); err != nil {
		p.abort(err)
		return nil, err
	}
	p.plain = newHashCounter(p.comp)
	return p, nil
}

func errOrClosed(err error) error {
	if err == nil {
		return io.ErrClosedPipe
	}
	return err
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.plain.Write(b)
	if err != nil {
		p.err = err
	}
	return n, err
}

// finish flushes the stages and waits for the upload.
func (p *pipeWriter) finish() error {
	if p.released {
		return errFileFinished
	}
	if p.err != nil {
		return p.abort(p.err)
	}
	if err := p.comp.Close(); err != nil {
		return p.abort(err)
	}
	if err := p.enc.Close(); err != nil {
		return p.abort(err)
	}
	p.pw.Close()
	if err := <-p.done; err != nil {
		p.release(nil)
		return err
	}
	p.entry.RawSize, p.entry.RawSHA256 = p.plain.n, p.plain.sum()
	p.entry.Size, p.entry.SHA256 = p.stored.n, p.stored.sum()
	p.release(p.r)
	return nil
}

// release drops the stages of a finished file (the sink keeps its
// pipeWriter for the entry until the component finishes) and hands a
// cleanly closed zstd encoder to the next file.
func (p *pipeWriter) release(r *Repository) {
	if e, ok := p.comp.(*zstd.Encoder); ok && r != nil {
		r.encoders.Put(e)
	}
	p.comp, p.enc, p.plain, p.stored, p.released = nil, nil, nil, nil, true
	if p.err == nil {
		p.err = errFileFinished
	}
}

var errFileFinished = errors.New("file already finished")

// abort stops the upload; the backend discards what it received.
func (p *pipeWriter) abort(cause error) error {
	if cause == nil {
		cause = errors.New("aborted")
	}
	if c, ok := p.comp.(*zstd.Encoder); ok {
		c.Reset(io.Discard) // stop its goroutines
	}
	if p.released {
		return cause // finished or aborted before
	}
	p.pw.CloseWithError(cause)
	err := <-p.done
	p.release(nil)
	if err == nil {
		return fmt.Errorf("upload finished after abort: %w", cause)
	}
	return cause
}

// verifyReader gives the plain content of a stored file and checks, at
// EOF, the stored and plain sizes and hashes against the manifest.
type verifyReader struct {
	file    string
	entry   FileEntry
	body    io.ReadCloser
	stored  *hashReader
	plain   *hashReader
	closers []func()
	err     error
}

type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (r *Repository) openVerified(ctx context.Context, snapID string, e FileEntry) (*verifyReader, error) {
	label := snapID + "/" + e.Path
	if e.Encryption == "age" {
		if err := r.needKey(label); err != nil {
			return nil, err
		}
	}
	body, err := r.be.Get(ctx, snapshotsDir+snapID+"/"+e.Path)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s: file is missing from the repository: %w", label, artifactCorrupt)
	}
	if err != nil {
		return nil, err
	}
	v := &verifyReader{file: label, entry: e, body: body}
	v.stored = &hashReader{r: body, h: sha256.New()}
	var in io.Reader = v.stored
	if e.Encryption == "age" {
		if in, err = age.Decrypt(in, r.ids...); err != nil {
			body.Close()
			return nil, fmt.Errorf("%s: cannot decrypt: %v: %w", label, err, artifactCorrupt)
		}
	}
	switch e.Compression {
	case "zstd":
		// One decoder goroutine: decoding stays in the reader's goroutine, so the
		// stored-bytes hash is complete and race-free when the plain stream ends.
		d, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(1<<29))
		if err != nil {
			body.Close()
			return nil, err
		}
		v.closers = append(v.closers, d.Close)
		in = d
	case "gzip":
		g, err := gzip.NewReader(in)
		if err != nil {
			body.Close()
			return nil, fmt.Errorf("%s: not a gzip stream: %v: %w", label, err, artifactCorrupt)
		}
		in = g
	case "none", "":
	default:
		body.Close()
		return nil, fmt.Errorf("%s: unknown compression %q in manifest: %w", label, e.Compression, artifactCorrupt)
	}
	v.plain = &hashReader{r: in, h: sha256.New()}
	return v, nil
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.plain.Read(p)
	if err == io.EOF {
		err = v.check()
		if err == nil {
			err = io.EOF
		}
	} else if err != nil {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			// Say how the stored bytes differ, when they can still be read.
			if serr := v.checkStored(); serr != nil && errors.Is(serr, artifactCorrupt) {
				msg := strings.TrimSuffix(serr.Error(), ": "+artifactCorrupt.Error())
				err = fmt.Errorf("%s (%v): %w", msg, err, artifactCorrupt)
			} else {
				err = fmt.Errorf("%s: %v: %w", v.file, err, artifactCorrupt)
			}
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifyReader) check() error {
	if err := v.checkStored(); err != nil {
		return err
	}
	e := v.entry
	if got := v.plain.n; got != e.RawSize {
		return fmt.Errorf("%s: plain size: expected %d bytes, got %d: %w", v.file, e.RawSize, got, artifactCorrupt)
	}
	if got := hex.EncodeToString(v.plain.h.Sum(nil)); got != e.RawSHA256 {
		return fmt.Errorf("%s: plain sha256: expected %s, got %s: %w", v.file, e.RawSHA256, got, artifactCorrupt)
	}
	return nil
}

// checkStored reads the rest of the stored bytes (trailing bytes after the
// compressed stream still count) and compares size and sha256.
func (v *verifyReader) checkStored() error {
	if _, err := io.Copy(io.Discard, v.stored); err != nil {
		return fmt.Errorf("%s: %v", v.file, err)
	}
	e := v.entry
	if got := v.stored.n; got != e.Size {
		return fmt.Errorf("%s: stored size: expected %d bytes, got %d: %w", v.file, e.Size, got, artifactCorrupt)
	}
	if got := hex.EncodeToString(v.stored.h.Sum(nil)); got != e.SHA256 {
		return fmt.Errorf("%s: stored sha256: expected %s, got %s: %w", v.file, e.SHA256, got, artifactCorrupt)
	}
	return nil
}

func (v *verifyReader) Close() error {
	for _, c := range v.closers {
		c()
	}
	return v.body.Close()
}
