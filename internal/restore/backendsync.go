package restore

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// BackendSyncCommand is Porta's rake task that enqueues, for every
// provider and master, the rewrite of its configuration into
// backend-redis (guide §7.5.6).
var BackendSyncCommand = []string{"bundle", "exec", "rake", "backend:storage:enqueue_rewrite"}

// enqueued matches the task's last line: "Enqueued 12 accounts for rewrite".
var enqueued = regexp.MustCompile(`Enqueued (\d+) accounts for rewrite`)

// BackendSync runs the rake task in a system-sidekiq pod (or, without
// one, a system-app pod) and reports how many accounts were enqueued.
func (k *KubeCluster) BackendSync(ctx context.Context, task *progress.Task) (Result, error) {
	var pod, container string
	var ferr error
	for _, w := range []string{"system-sidekiq", "system-app"} {
		p, err := kube.FindPod(ctx, k.KC.Typed, k.Namespace, w)
		if err == nil {
			pod, container = p.Name, w
			break
		}
		if ferr == nil {
			ferr = err
		}
	}
	if pod == "" {
		return Result{}, fmt.Errorf("the backend sync needs a running system-sidekiq or system-app pod: %w", ferr)
	}
	task.SetPhase("rake backend:storage:enqueue_rewrite in " + pod)
	out := k.Output
	if out == nil {
		out = io.Discard
	}
	tail := &tailWriter{max: 4096}
	w := io.MultiWriter(out, tail)
	if err := kube.Exec(ctx, k.KC.Config, k.Namespace, pod, container, BackendSyncCommand, nil, w, w); err != nil {
		return Result{}, fmt.Errorf("`%s` in pod %s: %w", strings.Join(BackendSyncCommand, " "), pod, err)
	}
	res := Result{Summary: "rake backend:storage:enqueue_rewrite ran in " + pod, Detail: map[string]any{"pod": pod}}
	if m := enqueued.FindStringSubmatch(tail.String()); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		res.Items = n
		res.Summary += fmt.Sprintf(": %d accounts enqueued; system-sidekiq rewrites them into backend-redis", n)
	}
	return res, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	b   []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string { return string(t.b) }
