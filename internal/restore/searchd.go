package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// ReindexCommand is Porta's rake task that rebuilds the search index
// (ts:index, then FLUSH RAMCHUNK and OPTIMIZE INDEX for every index); the
// operator's Job system-searchd-manticore-reindex runs the same task.
var ReindexCommand = []string{"bundle", "exec", "rake", "searchd:optimal_index"}

// Search workloads: system-searchd (Manticore, 3scale 2.14.1+) keeps its
// index on its own volume and needs the rebuild after a database restore;
// system-sphinx (2.13 and older) is rolled out instead.
const (
	Searchd = "system-searchd"
	Sphinx  = "system-sphinx"
)

// SearchEngine names the search workload of the namespace (Searchd or
// Sphinx), or "" when there is none.
func (k *KubeCluster) SearchEngine(ctx context.Context) (string, error) {
	for _, name := range []string{Searchd, Sphinx} {
		_, err := k.KC.GetWorkload(ctx, k.Namespace, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, kube.ErrNotFound) {
			return "", err
		}
	}
	return "", nil
}

// Reindex runs the rebuild in a system-sidekiq pod (or a system-app pod),
// waits for it to end, and reports how many indexes it queued for
// optimisation (the task's "NAME enqueued for optimization" lines).
func (k *KubeCluster) Reindex(ctx context.Context, task *progress.Task) (Result, error) {
	pod, tail, err := k.rake(ctx, task, ReindexCommand)
	if err != nil {
		return Result{}, err
	}
	var indexes []string
	for _, line := range strings.Split(tail, "\n") {
		if name, ok := strings.CutSuffix(strings.TrimSpace(line), " enqueued for optimization"); ok && name != "" {
			indexes = append(indexes, name)
		}
	}
	res := Result{Summary: "rake searchd:optimal_index ran in " + pod, Items: int64(len(indexes)),
		Detail: map[string]any{"pod": pod, "indexes": indexes}}
	if len(indexes) > 0 {
		res.Summary += fmt.Sprintf(": %d indexes rebuilt and queued for optimisation (%s)", len(indexes), strings.Join(indexes, ", "))
	}
	return res, nil
}
