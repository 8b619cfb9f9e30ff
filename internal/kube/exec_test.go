package kube_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kube/kubetest"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestExecStreamsBothWays(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      kubetest.Options
		transport string
		protocol  string
	}{
		{"websocket-tls", kubetest.Options{}, "websocket", "v5.channel.k8s.io"},
		{"websocket-plain", kubetest.Options{Plain: true}, "websocket", "v5.channel.k8s.io"},
		{"spdy-fallback", kubetest.Options{NoWebSocket: true}, "spdy", "v5.channel.k8s.io"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := kubetest.NewServer(t, nil, kubetest.LocalCommand(nil), tc.opts)
			data := make([]byte, 3<<20+17)
			_, _ = rand.Read(data)
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := kube.Exec(ctx, srv.Config(), "ns1", "system-app-1-abc", "system-master",
				[]string{"sh", "-c", "cat; echo done >&2"}, bytes.NewReader(data), &out, &errOut)
			if err != nil {
				t.Fatalf("exec: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("stdout: got %d bytes, want the %d sent on stdin", out.Len(), len(data))
			}
			if strings.TrimSpace(errOut.String()) != "done" {
				t.Fatalf("stderr = %q, want done", errOut.String())
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d", len(reqs))
			}
			r := reqs[0]
			if r.Namespace != "ns1" || r.Pod != "system-app-1-abc" || r.Container != "system-master" ||
				!r.Stdin || !r.Stdout || !r.Stderr || r.TTY || r.Transport != tc.transport || r.Protocol != tc.protocol {
				t.Fatalf("request = %+v", r)
			}
			if strings.Join(r.Command, " ") != "sh -c cat; echo done >&2" {
				t.Fatalf("command = %q", r.Command)
			}
		})
	}
}

func TestExecExitCode(t *testing.T) {
	for _, opts := range []kubetest.Options{{}, {NoWebSocket: true}} {
		srv := kubetest.NewServer(t, nil, kubetest.LocalCommand(nil), opts)
		redact.Add("hunter2-secret-value")
		err := kube.Exec(context.Background(), srv.Config(), "ns1", "system-app-1-abc", "system-master",
			[]string{"sh", "-c", "echo 'tar: cannot open hunter2-secret-value' >&2; exit 3"}, nil, nil, nil)
		var ee *kube.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("err = %v (%T), want *kube.ExitError", err, err)
		}
		if ee.Code != 3 || ee.Pod != "system-app-1-abc" || ee.Namespace != "ns1" || ee.Command != "sh" {
			t.Fatalf("exit error = %+v", ee)
		}
		msg := err.Error()
		for _, want := range []string{"ns1/system-app-1-abc", "code 3", "tar: cannot open"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not contain %q", msg, want)
			}
		}
		if strings.Contains(msg, "hunter2-secret-value") {
			t.Errorf("error leaks a secret: %q", msg)
		}
	}
}

func TestExecCommandNotFound(t *testing.T) {
	srv := kubetest.NewServer(t, nil, kubetest.LocalCommand(nil))
	err := kube.Exec(context.Background(), srv.Config(), "ns1", "p", "c", []string{"/nonexistent/tool"}, nil, nil, nil)
	var ee *kube.ExitError
	if !errors.As(err, &ee) || ee.Code != 127 {
		t.Fatalf("err = %v, want exit code 127", err)
	}
}

func TestExecCancel(t *testing.T) {
	srv := kubetest.NewServer(t, nil, kubetest.LocalCommand(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := kube.Exec(ctx, srv.Config(), "ns1", "p", "c", []string{"sleep", "30"}, nil, io.Discard, nil)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestExecUnreachable(t *testing.T) {
	srv := kubetest.NewServer(t, nil, kubetest.LocalCommand(nil))
	cfg := srv.Config()
	srv.Close()
	err := kube.Exec(context.Background(), cfg, "ns1", "system-app-x", "c", []string{"true"}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "ns1/system-app-x") || errs.Hint(err) == "" {
		t.Fatalf("err = %v (hint %q)", err, errs.Hint(err))
	}
}

func makePod(t *testing.T, cs kubernetes.Interface, ns, name string, labels map[string]string, phase corev1.PodPhase, ready bool) {
	t.Helper()
	ctx := context.Background()
	p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = phase
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestFindPod(t *testing.T) {
	ns := testenv.Namespace(t)
	// Through the fake exec server's proxy, as storage and resync will use it.
	srv := kubetest.NewServer(t, testenv.KubeConfig(t), kubetest.LocalCommand(nil))
	cs, err := kubernetes.NewForConfig(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	makePod(t, cs, ns, "system-app-1-aaa", map[string]string{"deploymentConfig": "system-app"}, corev1.PodPending, false)
	makePod(t, cs, ns, "system-app-1-bbb", map[string]string{"deploymentConfig": "system-app"}, corev1.PodRunning, false)
	makePod(t, cs, ns, "system-app-1-ccc", map[string]string{"deploymentConfig": "system-app"}, corev1.PodRunning, true)
	makePod(t, cs, ns, "system-sidekiq-x", map[string]string{"deployment": "system-sidekiq"}, corev1.PodRunning, true)
	makePod(t, cs, ns, "zync-que-1", map[string]string{"deploymentconfig": "zync-que"}, corev1.PodRunning, false)

	for workload, want := range map[string]string{"system-app": "system-app-1-ccc", "system-sidekiq": "system-sidekiq-x", "zync-que": "zync-que-1"} {
		p, err := kube.FindPod(ctx, cs, ns, workload)
		if err != nil {
			t.Fatalf("%s: %v", workload, err)
		}
		if p.Name != want {
			t.Errorf("%s: pod %s, want %s", workload, p.Name, want)
		}
	}
	_, err = kube.FindPod(ctx, cs, ns, "backend-worker")
	if err == nil || !strings.Contains(err.Error(), "no running pod of backend-worker") || !strings.Contains(errs.Hint(err), "scale backend-worker=1") {
		t.Fatalf("err = %v, hint %q", err, errs.Hint(err))
	}
}
