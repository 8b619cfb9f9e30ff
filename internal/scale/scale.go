package scale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// RecordAnnotation holds the replicas a component had before --down-all:
// "N" on a Deployment/DeploymentConfig scaled directly, a JSON object
// {"component": N} on the APIManager for the components it manages.
const RecordAnnotation = "3scale-ops.3scale.net/replicas-before-down-all"

// DefaultTimeout is how long Wait and Rollout wait when given 0.
const DefaultTimeout = 10 * time.Minute

// InstallKind is how the 3scale workloads of a namespace are deployed.
type InstallKind string

const (
	Operator    InstallKind = "operator"    // an APIManager CR manages them
	Template    InstallKind = "template"    // DeploymentConfigs from the amp templates
	Deployments InstallKind = "deployments" // plain Deployments (no operator)
)

// Scaler scales the 3scale components of one namespace.
type Scaler struct {
	kc  *kube.Clients
	ns  string
	Now func() time.Time // clock, for restart annotations
	// Poll is the interval Wait and Rollout check readiness at.
	Poll time.Duration
	Log  *slog.Logger
}

// New returns a Scaler for namespace ns.
func New(kc *kube.Clients, ns string) *Scaler {
	return &Scaler{kc: kc, ns: ns, Now: time.Now, Poll: 2 * time.Second, Log: slog.Default()}
}

// state is one read of the namespace: the APIManager (nil without the
// operator) and the workloads of known components.
type state struct {
	apim      *unstructured.Unstructured
	workloads map[string]kube.Workload
}

func (s *Scaler) load(ctx context.Context) (*state, error) {
	apim, err := s.kc.GetAPIManager(ctx, s.ns)
	if err != nil {
		return nil, err
	}
	ws, err := s.kc.ListWorkloads(ctx, s.ns)
	if err != nil {
		return nil, err
	}
	st := &state{apim: apim, workloads: map[string]kube.Workload{}}
	for _, w := range ws {
		if _, ok := Lookup(w.Name); !ok {
			continue
		}
		// Operator 2.15 migrations can leave both kinds; the Deployment is live.
		if prev, dup := st.workloads[w.Name]; dup && prev.Kind == kube.KindDeployment {
			continue
		}
		st.workloads[w.Name] = w
	}
	return st, nil
}

// viaCR reports whether c is scaled by patching the APIManager.
func (st *state) viaCR(c Component) bool { return st.apim != nil && c.CRPath != nil }

// crReplicas returns the CR's replica field for c (set reports presence).
func (st *state) crReplicas(c Component) (n int32, set bool) {
	v, found, _ := unstructured.NestedFieldNoCopy(st.apim.Object, append(append([]string{}, c.CRPath...), "replicas")...)
	switch x := v.(type) {
	case int64:
		return int32(x), found
	case float64:
		return int32(x), found
	}
	return 0, false
}

// hpa reports whether the CR hands c's replicas to a HorizontalPodAutoscaler.
func (st *state) hpa(c Component) bool {
	if st.apim == nil || !c.HPA {
		return false
	}
	on, _, _ := unstructured.NestedBool(st.apim.Object, append(append([]string{}, c.CRPath...), "hpa")...)
	return on
}

// desired is the replica count that sticks: the CR's when it manages c.
func (st *state) desired(c Component, w kube.Workload) int32 {
	if st.viaCR(c) {
		if n, ok := st.crReplicas(c); ok {
			return n
		}
	}
	return w.Desired
}

// Detect tells how the namespace's 3scale runs.
func (s *Scaler) Detect(ctx context.Context) (InstallKind, error) {
	st, err := s.load(ctx)
	if err != nil {
		return "", err
	}
	return st.kind()
}

func (st *state) kind() (InstallKind, error) {
	if st.apim != nil {
		return Operator, nil
	}
	for _, w := range st.workloads {
		if w.Kind == kube.KindDeploymentConfig {
			return Template, nil
		}
	}
	if len(st.workloads) > 0 {
		return Deployments, nil
	}
	return "", notDeployedError{components[0].Name}
}

// ErrNotDeployed is matched (errors.Is) by Detect's error for a namespace
// that holds neither 3scale workloads nor an APIManager.
var ErrNotDeployed = errors.New("3scale is not deployed in the namespace")

type notDeployedError struct{ first string }

func (e notDeployedError) Error() string {
	return fmt.Sprintf("no 3scale workloads (%s, …) and no APIManager found", e.first)
}

func (notDeployedError) Is(target error) bool { return target == ErrNotDeployed }

// Status is one component's row of `scale status`.
type Status struct {
	Component string `json:"component"`
	Kind      string `json:"kind"`
	Desired   int32  `json:"desired"`
	Ready     int32  `json:"ready"`
	Managed   bool   `json:"managed_by_operator"`
	CRField   string `json:"apimanager_field,omitempty"`
	HPA       bool   `json:"hpa,omitempty"`
	// Recorded is what --down-all recorded, present until --resume.
	Recorded *int32 `json:"recorded_replicas,omitempty"`
	// Enforced reports whether the operator enforces the replica count
	// (it reverts direct scaling); Note says how the component is scaled.
	Enforced bool   `json:"operator_enforces_replicas"`
	Note     string `json:"note,omitempty"`
}

// Status lists every 3scale component present in the namespace, in
// component order.
func (s *Scaler) Status(ctx context.Context) ([]Status, error) {
	st, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if len(st.workloads) == 0 {
		return nil, errs.New(errs.Failure, "check -n/--namespace: it must be the namespace 3scale runs in",
			"no 3scale deployments or deploymentconfigs in namespace %s", s.ns)
	}
	crRec := st.crRecord()
	var out []Status
	for _, c := range components {
		w, ok := st.workloads[c.Name]
		if !ok {
			continue
		}
		row := Status{Component: c.Name, Kind: w.Kind, Desired: st.desired(c, w), Ready: w.Ready,
			Managed: st.apim != nil, HPA: st.hpa(c)}
		switch {
		case st.apim == nil:
		case st.viaCR(c):
			row.Enforced = true
		case c.Direct:
			row.Note = "replicas not enforced by the operator: scaled directly"
		default:
			row.Enforced = true
			row.Note = "the operator runs it at a fixed count"
		}
		if st.viaCR(c) {
			row.CRField = c.crField()
			if e, ok := crRec[c.Name]; ok {
				row.Recorded = &e.Was
			}
		} else if n, ok := wlRecord(w); ok {
			row.Recorded = &n
		}
		out = append(out, row)
	}
	return out, nil
}

// unknown returns a usage error for names that are not 3scale components.
func unknown(bad []string) error {
	sort.Strings(bad)
	return errs.UsageError("valid components: "+strings.Join(Names(), ", "),
		"unknown component %s", strings.Join(bad, ", "))
}

// Scale sets the replicas of components: through one APIManager patch for
// those the operator manages, through the scale subresource for the rest.
// Everything is checked before anything changes.
func (s *Scaler) Scale(ctx context.Context, targets map[string]int32) error {
	var bad []string
	for name, n := range targets {
		if _, ok := Lookup(name); !ok {
			bad = append(bad, name)
		} else if n < 0 {
			return errs.UsageError("give a replica count of 0 or more", "%s: negative replicas %d", name, n)
		}
	}
	if len(bad) > 0 {
		return unknown(bad)
	}
	st, err := s.load(ctx)
	if err != nil {
		return err
	}
	spec := map[string]any{}
	type direct struct {
		w kube.Workload
		n int32
	}
	var directs []direct
	for _, c := range components {
		n, want := targets[c.Name]
		if !want {
			continue
		}
		w, ok := st.workloads[c.Name]
		if !ok {
			return errs.New(errs.Failure, "run `3scale-ops scale status` to see the components of this namespace",
				"%s: no Deployment or DeploymentConfig named %s in namespace %s", c.Name, c.Name, s.ns)
		}
		switch {
		case st.hpa(c):
			return errs.New(errs.Failure, fmt.Sprintf("change the HorizontalPodAutoscaler's minReplicas/maxReplicas, or set %s.hpa: false in the APIManager first", strings.Join(c.CRPath, ".")),
				"%s: replicas are controlled by a HorizontalPodAutoscaler (APIManager %s.hpa: true)", c.Name, strings.Join(c.CRPath, "."))
		case st.viaCR(c):
			setPath(spec, c.CRPath[1:], "replicas", n)
		case st.apim != nil && !c.Direct:
			return errs.New(errs.Failure, "the operator runs it with its fixed replica count; scale it only through restore's quiesce (scale --down-all)",
				"%s is managed by the 3scale operator and has no replicas field in the APIManager CR (the operator reverts direct scaling)", c.Name)
		default:
			directs = append(directs, direct{w, n})
		}
	}
	if len(spec) > 0 {
		patch, _ := json.Marshal(map[string]any{"spec": spec})
		if err := s.kc.PatchAPIManager(ctx, s.ns, st.apim.GetName(), patch); err != nil {
			return err
		}
	}
	for _, d := range directs {
		if err := s.kc.ScaleWorkload(ctx, s.ns, d.w.Kind, d.w.Name, d.n); err != nil {
			return err
		}
		s.Log.Info("scaled", "component", d.w.Name, "kind", d.w.Kind, "replicas", d.n)
	}
	return nil
}

// setPath sets m[path...][key] = v, creating nested maps.
func setPath(m map[string]any, path []string, key string, v any) {
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[key] = v
}
