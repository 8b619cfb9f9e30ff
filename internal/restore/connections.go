package restore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Which connection keys a restore points at the servers it wrote to
// (restore --rewrite-connections).
const (
	// RewriteAuto: connections found in the namespace's own secrets keep
	// their keys (the snapshot's would point the namespace at the
	// snapshot's servers); connections given by flags are warned about,
	// since a flag may reach the same server another way (a port-forward).
	RewriteAuto = ""
	RewriteOn   = "on"  // every connection key that differs is set to the restore's target
	RewriteOff  = "off" // the snapshot's keys are restored as they are; differences are warned about
)

// connOf maps a restored data component to its connections.
var connOf = map[string][]string{
	component.SystemMySQL: {config.SystemDB}, component.ZyncPostgres: {config.ZyncDB},
	component.BackendRedis: {config.BackendRedis, config.BackendRedisQueues}, component.SystemRedis: {config.SystemRedis},
}

// KeyChange is one connection key of a secret set to the value that names
// the restore's target (Value nil: the key is removed).
type KeyChange struct {
	Secret     string  `json:"secret"`
	Key        string  `json:"key"`
	Value      *string `json:"-"`
	Connection string  `json:"connection"` // system-mysql, backend-redis-queues, …
	Origin     string  `json:"origin"`     // where the target was found: flag or namespace
}

// ConnPlan is what the restore does with the connection keys of the
// namespace's secrets.
type ConnPlan struct {
	// InSecrets are set while the secrets step restores those secrets
	// (the snapshot's values never reach the namespace).
	InSecrets []KeyChange `json:"in_secrets,omitempty"`
	// Live are set in the namespace's secrets by the connections step
	// (secrets the restore does not restore).
	Live []KeyChange `json:"live,omitempty"`
	// Stale keep naming other servers than the restore's targets.
	Stale []KeyChange `json:"stale,omitempty"`
}

// SecretKeys is InSecrets in the form of engines.Options.SecretKeys.
func (p *ConnPlan) SecretKeys() map[string]map[string]*string {
	if p == nil || len(p.InSecrets) == 0 {
		return nil
	}
	out := map[string]map[string]*string{}
	for _, c := range p.InSecrets {
		if out[c.Secret] == nil {
			out[c.Secret] = map[string]*string{}
		}
		out[c.Secret][c.Key] = c.Value
	}
	return out
}

// PlanConnections works out, for every restored data component, whether
// the namespace's secrets will name the server the restore writes to once
// the restore is done (with the snapshot's secrets restored, or as they
// are), and which keys are set (mode) or only warned about.
func PlanConnections(ctx context.Context, kc *kube.Clients, conns *config.Connections, ov config.Overrides, mode string,
	selected []string, snapshot []corev1.Secret) (*ConnPlan, error) {
	switch mode {
	case RewriteAuto, RewriteOn, RewriteOff:
	default:
		return nil, errs.UsageError("use --rewrite-connections or --rewrite-connections=false", "unknown connection rewrite mode %q", mode)
	}
	p := &ConnPlan{}
	if kc == nil {
		return p, nil
	}
	restoresSecrets := slices.Contains(selected, component.Secrets)
	snap := map[string]*corev1.Secret{}
	for i := range snapshot {
		snap[snapshot[i].Name] = &snapshot[i]
	}
	live := map[string]*corev1.Secret{}
	getLive := func(name string) (*corev1.Secret, error) {
		if s, ok := live[name]; ok {
			return s, nil
		}
		s, err := kc.Typed.CoreV1().Secrets(conns.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s, err = nil, nil
		}
		if err != nil {
			return nil, errs.Wrap(errs.Failure, fmt.Errorf("read secret %s/%s: %w", conns.Namespace, name, err), "check that your role may get secrets in the namespace")
		}
		live[name] = s
		return s, nil
	}
	for _, comp := range selected {
		for _, cc := range connOf[comp] {
			origin := conns.Origin(cc)
			if origin == "" || origin == config.OriginSnapshot {
				continue // unresolved, or the snapshot's own server
			}
			name := config.ConnectionSecret(cc)
			cur, err := getLive(name)
			if err != nil {
				return nil, err
			}
			will, inSecrets := map[string][]byte(nil), false
			switch {
			case restoresSecrets && snap[name] != nil:
				will, inSecrets = snap[name].Data, true
			case cur != nil:
				will = cur.Data
			default:
				continue // no such secret: 3scale does not read this connection from one
			}
			desired := map[string]*string{}
			if origin == config.OriginNamespace {
				if cur == nil {
					continue
				}
				for _, k := range config.ConnectionKeys(cc) {
					if v, ok := cur.Data[k]; ok {
						desired[k] = ptr(string(v))
					} else {
						desired[k] = nil
					}
				}
			} else {
				lookup := func(k string) (string, bool) { v, ok := will[k]; return string(v), ok }
				for k, v := range conns.TargetKeys(cc, ov, lookup) {
					desired[k] = ptr(v)
				}
			}
			p.add(desired, will, func(k string, v *string) KeyChange {
				return KeyChange{Secret: name, Key: k, Value: v, Connection: cc, Origin: origin}
			}, func(old []byte, had bool, v *string) bool {
				return (v == nil && !had) || (v != nil && had && string(old) == *v) || (v != nil && !had && *v == "")
			}, mode, inSecrets)
		}
	}
	if slices.Contains(selected, component.SystemStorage) {
		if err := planStorage(ctx, p, kc, conns, mode, restoresSecrets, snapshot); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func ptr[T any](v T) *T { return &v }

// add files each desired key (in key order) whose value differs from
// will's, as unchanged reports it, under what the restore does with it:
// Stale (left as it is: the rewrite is off, or, in auto mode, the
// target was given by flag), InSecrets (the restored secrets get it) or
// Live (the namespace's secret gets it).
func (p *ConnPlan) add(desired map[string]*string, will map[string][]byte, change func(k string, v *string) KeyChange,
	unchanged func(old []byte, had bool, v *string) bool, mode string, inSecrets bool) {
	keys := make([]string, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := desired[k]
		old, had := will[k]
		if unchanged(old, had, v) {
			continue
		}
		ch := change(k, v)
		switch {
		case mode == RewriteOff || (mode == RewriteAuto && ch.Origin == config.OriginFlag):
			p.Stale = append(p.Stale, ch)
		case inSecrets:
			p.InSecrets = append(p.InSecrets, ch)
		default:
			p.Live = append(p.Live, ch)
		}
	}
}

// bySecret renders changes as "system-database (URL, DB_PASSWORD), zync (DATABASE_URL)".
func bySecret(changes []KeyChange) string {
	var names []string
	keys := map[string][]string{}
	for _, c := range changes {
		if keys[c.Secret] == nil {
			names = append(names, c.Secret)
		}
		keys[c.Secret] = append(keys[c.Secret], c.Key)
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " (" + strings.Join(keys[n], ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

// Warnings are the plan's warnings about keys left naming other servers.
func (p *ConnPlan) Warnings() []string {
	if p == nil {
		return nil
	}
	var out []string
	var flag, ns []KeyChange
	for _, c := range p.Stale {
		if c.Origin == config.OriginFlag {
			flag = append(flag, c)
		} else {
			ns = append(ns, c)
		}
	}
	if len(flag) > 0 {
		out = append(out, "after the restore these secret keys will not name the servers given by flags that the data is restored into: "+bySecret(flag)+
			"; 3scale would use the other servers. Add --rewrite-connections to set them to the servers of the flags (unless a flag reaches the same server another way, e.g. a port-forward), or edit them before 3scale starts")
	}
	if len(ns) > 0 {
		out = append(out, "--rewrite-connections=false: these secret keys get the snapshot's values and will not name the servers found in the namespace's secrets that the data is restored into: "+bySecret(ns))
	}
	return out
}

// describeSet is the line about keys the restore sets.
func describeSet(changes []KeyChange) string {
	return "set to the servers this restore writes to: " + bySecret(changes)
}

// applyLive sets the Live keys in the namespace's secrets.
func applyLive(ctx context.Context, kc *kube.Clients, ns string, changes []KeyChange, task *progress.Task) (Result, error) {
	sc := kc.Typed.CoreV1().Secrets(ns)
	var names []string
	by := map[string][]KeyChange{}
	for _, c := range changes {
		if by[c.Secret] == nil {
			names = append(names, c.Secret)
		}
		by[c.Secret] = append(by[c.Secret], c)
	}
	task.SetTotal(0, int64(len(names)))
	var done []KeyChange
	for _, name := range names {
		s, err := sc.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return Result{}, errs.Wrap(errs.Failure, fmt.Errorf("read secret %s/%s: %w", ns, name, err), "check that your role may get and update secrets in the namespace")
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for _, c := range by[name] {
			if c.Value == nil {
				delete(s.Data, c.Key)
			} else {
				s.Data[c.Key] = []byte(*c.Value)
			}
			delete(s.StringData, c.Key)
		}
		if _, err := sc.Update(ctx, s, metav1.UpdateOptions{FieldManager: "3scale-ops"}); err != nil {
			return Result{}, errs.Wrap(errs.Failure, fmt.Errorf("update secret %s/%s: %w", ns, name, err), "check that your role may update secrets in the namespace, then run the restore again with --resume")
		}
		done = append(done, by[name]...)
		task.AddItems(1)
	}
	return Result{Items: int64(len(done)), Summary: "connection keys " + describeSet(done), Detail: map[string]any{"keys": done}}, nil
}
