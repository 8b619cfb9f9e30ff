package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	//lint:ignore SA1019 client-go's WebSocket executor still returns this package's upgrade errors
	apihttpstream "k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// ExitError reports a command that ran in a pod and exited non-zero.
// Stderr holds the last lines the command wrote to stderr (redacted).
type ExitError struct {
	Namespace, Pod, Container string
	Command                   string // argv[0] only: arguments may be long or sensitive
	Code                      int
	Stderr                    string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s in pod %s/%s (container %s) exited with code %d", e.Command, e.Namespace, e.Pod, e.Container, e.Code)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// ExitCode is the command's exit status.
func (e *ExitError) ExitCode() int { return e.Code }

// PodExec runs commands in one container of one pod: the exec interface
// the engines take (storage.Pod) without importing Kubernetes.
type PodExec struct {
	Config    *rest.Config
	Namespace string
	Pod       string
	Container string
}

// Name is the pod's name.
func (p *PodExec) Name() string { return p.Pod }

// Exec runs command in the container (see Exec); a non-zero exit is an
// *ExitError.
func (p *PodExec) Exec(ctx context.Context, command []string, stdin io.Reader, stdout io.Writer) error {
	return Exec(ctx, p.Config, p.Namespace, p.Pod, p.Container, command, stdin, stdout, nil)
}

// WorkloadExec finds a running pod of workload (FindPod) and returns the
// exec handle of its container.
func (c *Clients) WorkloadExec(ctx context.Context, namespace, workload, container string) (*PodExec, error) {
	p, err := FindPod(ctx, c.Typed, namespace, workload)
	if err != nil {
		return nil, err
	}
	return &PodExec{Config: c.Config, Namespace: namespace, Pod: p.Name, Container: container}, nil
}

// The HTTP methods of Exec's two transports: WebSocket first, SPDY when
// the server refuses the upgrade.
const (
	execWebSocketMethod = http.MethodGet
	execSPDYMethod      = http.MethodPost
)

// ExecVerbs are the verbs on pods/exec that Exec needs, derived from its
// transports' methods: the API server authorises a WebSocket exec (GET)
// as get and, since Kubernetes 1.31 (AuthorizePodWebsocketUpgradeCreatePermission),
// as create too; the SPDY fallback (POST) as create. The generated Role
// grants exactly these (Kinds).
var ExecVerbs = execVerbsOf(execWebSocketMethod, execSPDYMethod)

func execVerbsOf(methods ...string) []string {
	var out []string
	add := func(verbs ...string) {
		for _, v := range verbs {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	for _, m := range methods {
		switch m {
		case http.MethodGet:
			add("get", "create")
		case http.MethodPost:
			add("create")
		}
	}
	return out
}

// PodVerbs are the verbs on pods the exec paths need: FindPod lists the
// pods of a workload by label; nothing reads a pod by name.
var PodVerbs = []string{"list"}

// stderrTailSize bounds the stderr kept for an ExitError.
const stderrTailSize = 2048

// Exec runs command in a container of a pod, streaming stdin (may be nil)
// to it and its stdout/stderr (either may be nil: discarded) back, the
// way `kubectl exec -i` does: a WebSocket (v5.channel.k8s.io) connection,
// falling back to SPDY when the server refuses the WebSocket upgrade. A
// non-zero exit status is returned as an *ExitError carrying the code.
// Never put a secret in command: pass it on stdin instead.
func Exec(ctx context.Context, cfg *rest.Config, namespace, pod, container string, command []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(command) == 0 {
		return fmt.Errorf("exec in pod %s/%s: empty command", namespace, pod)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("exec in pod %s/%s: kubernetes client: %w", namespace, pod, err)
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   command,
			Stdin:     stdin != nil,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	u := req.URL()

	spdyExec, err := remotecommand.NewSPDYExecutor(cfg, execSPDYMethod, u)
	if err != nil {
		return fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	wsExec, err := remotecommand.NewWebSocketExecutor(cfg, execWebSocketMethod, u.String())
	if err != nil {
		return fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}
	executor, err := remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
		// client-go's WebSocket transport returns the streaming module's
		// error type; the apimachinery one is checked too for older paths.
		return httpstream.IsUpgradeFailure(err) || apihttpstream.IsUpgradeFailure(err) ||
			httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("exec in pod %s/%s: %w", namespace, pod, err)
	}

	if stdout == nil {
		stdout = io.Discard
	}
	tail := &tailBuffer{max: stderrTailSize}
	var errOut io.Writer = tail
	if stderr != nil {
		errOut = io.MultiWriter(stderr, tail)
	}
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: errOut})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("exec %s in pod %s/%s: %w", command[0], namespace, pod, ctx.Err())
	}
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return &ExitError{Namespace: namespace, Pod: pod, Container: container, Command: command[0], Code: ce.Code,
			Stderr: redact.String(tail.String())}
	}
	return errs.Wrap(errs.Failure, fmt.Errorf("exec %s in pod %s/%s (container %s): %s", command[0], namespace, pod, container, redact.String(err.Error())),
		"check that the pod is running (kubectl get pod "+pod+" -n "+namespace+") and that your role may create pods/exec")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(strings.ToValidUTF8(string(t.b), "?"))
}

// WorkloadSelectors are the pod labels that tie a pod to its 3scale
// workload, in the order FindPod tries them: operator 2.15+ Deployments,
// template/operator DeploymentConfigs, and OpenShift's own DC label.
var WorkloadSelectors = []string{"deployment", "deploymentConfig", "deploymentconfig"}

// FindPod returns a running pod of the 3scale workload (Deployment or
// DeploymentConfig) called name: a Ready one if any, else the first
// Running one, by name order. It fails, naming the labels it tried, when
// no pod is running.
func FindPod(ctx context.Context, cs kubernetes.Interface, namespace, workload string) (*corev1.Pod, error) {
	var running []corev1.Pod
	tried := make([]string, 0, len(WorkloadSelectors))
	for _, label := range WorkloadSelectors {
		sel := label + "=" + workload
		tried = append(tried, sel)
		list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, errs.Wrap(errs.Failure, fmt.Errorf("list pods of %s in namespace %s: %w", workload, namespace, err),
				"check the namespace (-n) and that your role may list pods")
		}
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running = append(running, p)
			}
		}
		if len(running) > 0 {
			break
		}
	}
	if len(running) == 0 {
		return nil, errs.New(errs.Failure,
			fmt.Sprintf("start it (3scale-ops scale %s=1, or kubectl get pods -n %s to see why it is down)", workload, namespace),
			"no running pod of %s in namespace %s (labels tried: %s)", workload, namespace, strings.Join(tried, ", "))
	}
	sort.SliceStable(running, func(i, j int) bool {
		ri, rj := podReady(&running[i]), podReady(&running[j])
		if ri != rj {
			return ri
		}
		return running[i].Name < running[j].Name
	})
	return &running[0], nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
