package storage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

func (e *Engine) pod(ctx context.Context) (Pod, error) {
	if e.pods == nil {
		return nil, errs.UsageError("pass --system-storage dir:///PATH or s3://HOST/BUCKET/PREFIX, or run with Kubernetes access",
			"system-storage: pod mode needs Kubernetes (it execs into %s)", e.opts.Workload)
	}
	return e.pods(ctx, e.opts.Workload, e.opts.Container)
}

// exitErr reports whether err says the command ran and exited non-zero.
func exitErr(err error) bool {
	var ee interface{ ExitCode() int }
	return errors.As(err, &ee)
}

func (e *Engine) execErr(pod string, what string, err error) error {
	return errs.Wrap(errs.Failure, fmt.Errorf("system-storage: %s %s in pod %s/%s: %w", what, e.loc.Path, e.ns, pod, err),
		fmt.Sprintf("check that %s is mounted in container %s of %s and that tar is on its PATH; or pass --system-storage dir://… pointing at a copy of the volume", e.loc.Path, e.opts.Container, e.opts.Workload))
}

// backupPod runs `tar -C PATH -cf - .` in the pod and stores its stdout
// as is; the stream is parsed on the fly to count entries and to make
// sure it is a complete tar.
func (e *Engine) backupPod(ctx context.Context, w io.Writer, task *progress.Task, meta *Meta) error {
	pod, err := e.pod(ctx)
	if err != nil {
		return err
	}
	meta.Pod = pod.Name()
	pr, pw := io.Pipe()
	type result struct {
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := scan(ctx, pr, false, task)
		if err == nil {
			_, err = io.Copy(io.Discard, pr) // the zero blocks after the end marker
		}
		pr.CloseWithError(fmt.Errorf("tar stream from the pod: %w", err))
		done <- result{st, err}
	}()
	cmd := []string{"tar", "-C", e.loc.Path, "-cf", "-", "."}
	err = pod.Exec(ctx, cmd, nil, io.MultiWriter(progress.Writer{W: w, Task: task}, pw))
	if err != nil {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	} else {
		pw.Close()
	}
	res := <-done
	if exitErr(err) || (err != nil && res.err == nil) {
		return e.execErr(pod.Name(), "archive", err)
	}
	if res.err != nil {
		return e.execErr(pod.Name(), "archive", res.err)
	}
	meta.setStats(res.st)
	return nil
}

// restorePod streams the tar into `tar -xf - -C PATH` in the pod,
// re-writing it entry by entry after validating each one, so that an
// unsafe entry stops the stream before it reaches the pod.
func (e *Engine) restorePod(ctx context.Context, r io.Reader, task *progress.Task) error {
	pod, err := e.pod(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	feedErr := make(chan error, 1)
	go func() {
		err := revalidate(ctx, r, pw, task)
		if err != nil {
			cancel()
		}
		pw.CloseWithError(err)
		feedErr <- err
	}()
	cmd := []string{"tar", "-xf", "-", "-C", e.loc.Path}
	err = pod.Exec(ctx, cmd, pr, nil)
	pr.CloseWithError(fmt.Errorf("tar in pod %s ended", pod.Name()))
	ferr := <-feedErr
	// A bad archive (code usage/mismatch) is the cause even when it made the
	// remote tar fail; otherwise the remote side's failure comes first.
	if ferr != nil && errs.Code(ferr) != errs.Failure {
		return ferr
	}
	if err != nil {
		return e.execErr(pod.Name(), "extract into", err)
	}
	return ferr
}

// revalidate copies a tar stream from r to w entry by entry, refusing
// unsafe entries.
func revalidate(ctx context.Context, r io.Reader, w io.Writer, task *progress.Task) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return readErr(err)
		}
		if _, err := checkHeader(h); err != nil {
			return unsafeErr(err)
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("system-storage: stream %s to the pod: %w", h.Name, err)
		}
		if _, err := io.CopyBuffer(progress.Writer{W: tw, Task: task}, tr, buf); err != nil {
			if err == io.ErrUnexpectedEOF {
				return readErr(err)
			}
			return fmt.Errorf("system-storage: stream %s to the pod: %w", h.Name, err)
		}
		task.AddItems(1)
	}
}

// podEmpty lists the storage directory in the pod.
func (e *Engine) podEmpty(ctx context.Context) (bool, error) {
	pod, err := e.pod(ctx)
	if err != nil {
		return false, err
	}
	var out strings.Builder
	err = pod.Exec(ctx, []string{"ls", "-A", e.loc.Path}, nil, &out)
	if err != nil {
		return false, e.execErr(pod.Name(), "list", err)
	}
	return strings.TrimSpace(out.String()) == "", nil
}
