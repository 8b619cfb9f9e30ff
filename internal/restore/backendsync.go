package restore

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

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
	pod, tail, err := k.rake(ctx, task, BackendSyncCommand)
	if err != nil {
		return Result{}, err
	}
	res := Result{Summary: "rake backend:storage:enqueue_rewrite ran in " + pod, Detail: map[string]any{"pod": pod}}
	if m := enqueued.FindStringSubmatch(tail); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		res.Items = n
		res.Summary += fmt.Sprintf(": %d accounts enqueued; system-sidekiq rewrites them into backend-redis", n)
	}
	return res, nil
}
