package restore

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
)

// rakePods are where System's rake tasks run, in the order tried: the
// workload and the container of its pods that carries System's
// environment (system-app's containers are system-master,
// system-provider and system-developer; any of them would do).
var rakePods = []struct{ workload, container string }{
	{"system-sidekiq", "system-sidekiq"},
	{"system-app", "system-master"},
}

// rake runs one of System's rake tasks in a system-sidekiq pod (or,
// without one, a system-app pod) over exec, streaming its output to
// k.Output, and returns the pod and the last lines it wrote (up to 4 KiB
// of each stream, stdout's then stderr's, kept apart so that lines of the
// two never mix).
func (k *KubeCluster) rake(ctx context.Context, task *progress.Task, command []string) (pod, tail string, err error) {
	var container string
	var ferr error
	for _, rp := range rakePods {
		p, err := kube.FindPod(ctx, k.KC.Typed, k.Namespace, rp.workload)
		if err == nil {
			pod, container = p.Name, rp.container
			break
		}
		if ferr == nil {
			ferr = err
		}
	}
	cmd := strings.Join(command, " ")
	if pod == "" {
		return "", "", fmt.Errorf("`%s` needs a running system-sidekiq or system-app pod: %w", cmd, ferr)
	}
	task.SetPhase(strings.TrimPrefix(cmd, "bundle exec ") + " in " + pod)
	out := k.Output
	if out == nil {
		out = io.Discard
	}
	to, te := &tailWriter{max: 4096}, &tailWriter{max: 4096}
	err = kube.Exec(ctx, k.KC.Config, k.Namespace, pod, container, command, nil, io.MultiWriter(out, to), io.MultiWriter(out, te))
	tail = to.String() + "\n" + te.String()
	if err != nil {
		return pod, tail, fmt.Errorf("`%s` in pod %s: %w", cmd, pod, err)
	}
	return pod, tail, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	b   []byte
	cut bool // bytes were dropped from the front
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b, t.cut = t.b[len(t.b)-t.max:], true
	}
	return len(p), nil
}

// String is the tail, starting at a whole line.
func (t *tailWriter) String() string {
	s := string(t.b)
	if t.cut {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}
