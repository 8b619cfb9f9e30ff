// Package kubeobjects is the engine for the Kubernetes objects of a 3scale
// installation: the "secrets" and "configmaps" components (the names the
// Operating guide lists plus anything labelled as 3scale's) and the
// "apimanager" component (APIManager CRs and the operator's
// capabilities.3scale.net resources, discovered through the API). A backup
// is one `v1 List` JSON file, stripped of server-owned fields, that
// `kubectl apply -f` accepts in any namespace; a restore creates or
// updates every object and reports what changed.
//
// It must never print, log or return a secret value: only object names
// and key names leave this package (values are registered with redact as
// soon as they are read).
package kubeobjects

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// Component names.
const (
	Secrets    = component.Secrets
	ConfigMaps = component.ConfigMaps
	APIManager = component.APIManager
)

// Components lists the components of this package in restore order.
var Components = []string{Secrets, ConfigMaps, APIManager}

// MetaKey is the metadata key of a backup.
const MetaKey = "objects"

// SecretNames are the secrets of a 3scale installation (Operating 3scale,
// chapter 7, and the operator's secrets).
var SecretNames = []string{
	"system-smtp", "system-seed", "system-database", "backend-internal-api", "system-events-hook",
	"system-app", "system-recaptcha", "system-redis", "zync", "system-master-apicast",
	"backend-redis", "backend-listener", "system-memcache",
}

// ConfigMapNames are the configmaps of a 3scale installation.
var ConfigMapNames = []string{"system-environment", "apicast-environment", "system", "backend-environment", "redis-config"}

// LabelSelectors find the other objects labelled as 3scale's.
var LabelSelectors = []string{"app=3scale-api-management", "threescale_component"}

// APIManagerGVR is the resource of the APIManager CR.
var APIManagerGVR = kube.APIManagerGVR

// CapabilityKinds are the capabilities.3scale.net kinds of the table
// (kube.Kinds), in restore order; the server's other kinds in the group
// are backed up too.
func CapabilityKinds() []string {
	var out []string
	for _, k := range kube.KindsInGroup(kube.CapabilitiesGroup) {
		out = append(out, k.Kind)
	}
	return out
}

// Options tune an engine.
type Options struct {
	// ExtraNames adds object names to back up (secrets or configmaps,
	// per component), e.g. the S3 storage secret.
	ExtraNames []string
	Logger     *slog.Logger
	// SecretKeys are set (nil: removed) in the named secrets as they are
	// restored, replacing the snapshot's values: the connection keys that
	// must name the servers the restore wrote to (secret → key → value).
	SecretKeys map[string]map[string]*string
	// Transform, when set, changes each object before it is written
	// (restore: an APIManager held at zero replicas).
	Transform func(*unstructured.Unstructured)
}

// Engine backs up and restores one component's objects in one namespace.
type Engine struct {
	kc        *kube.Clients
	ns        string
	component string
	opts      Options
	log       *slog.Logger
}

// Meta is the component metadata of a backup.
type Meta struct {
	Namespace string   `json:"namespace"` // where the objects were read
	Count     int      `json:"count"`
	Objects   []string `json:"objects"`           // Kind/name, in file order
	Missing   []string `json:"missing,omitempty"` // expected names that did not exist
	Skipped   []string `json:"skipped,omitempty"` // kinds whose CRD is absent
	// Forbidden are the optional kinds the role may not read, each with
	// the missing rule: "Application (needs list applications.capabilities.3scale.net)".
	Forbidden []string `json:"forbidden,omitempty"`
	// Version is the installation's 3scale release ("2.15") and
	// VersionSource where it was read (apimanager component only).
	Version       string `json:"version,omitempty"`
	VersionSource string `json:"version_source,omitempty"`
}

// New returns the engine of component (Secrets, ConfigMaps or APIManager)
// for namespace.
func New(kc *kube.Clients, namespace, component string, opts Options) (*Engine, error) {
	switch component {
	case Secrets, ConfigMaps, APIManager:
	default:
		return nil, errs.UsageError("use one of secrets, configmaps, apimanager", "kubeobjects: unknown component %q", component)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{kc: kc, ns: namespace, component: component, opts: opts, log: log}, nil
}

// All returns the three engines, in restore order.
func All(kc *kube.Clients, namespace string, opts Options) []*Engine {
	out := make([]*Engine, 0, len(Components))
	for _, c := range Components {
		e, _ := New(kc, namespace, c, opts)
		out = append(out, e)
	}
	return out
}

// Name implements the engine contract.
func (e *Engine) Name() string { return e.component }

// FileName is the file the component writes: "secrets.json" and so on.
func FileName(component string) string { return component + ".json" }

// Backup reads the component's objects and writes them as one v1 List.
func (e *Engine) Backup(ctx context.Context, sink artifact.Sink, task *progress.Task) error {
	var objs []*unstructured.Unstructured
	meta := Meta{Namespace: e.ns}
	var err error
	switch e.component {
	case Secrets:
		objs, meta.Missing, err = e.collectCore(ctx, "secrets", SecretNames)
	case ConfigMaps:
		objs, meta.Missing, err = e.collectCore(ctx, "configmaps", ConfigMapNames)
	case APIManager:
		objs, meta.Skipped, meta.Forbidden, err = e.collectCRs(ctx)
		if err == nil {
			meta.Version, meta.VersionSource = e.installVersion(ctx, objs)
		}
	}
	if err != nil {
		return err
	}
	task.SetTotal(0, int64(len(objs)))
	f, err := sink.Create(ctx, FileName(e.component), "kube-list")
	if err != nil {
		return fmt.Errorf("%s: create %s: %w", e.component, FileName(e.component), err)
	}
	if err := writeList(progress.Writer{W: f, Task: task}, objs); err != nil {
		return fmt.Errorf("%s: write %s: %w", e.component, FileName(e.component), err)
	}
	for _, o := range objs {
		meta.Objects = append(meta.Objects, o.GetKind()+"/"+o.GetName())
	}
	meta.Count = len(objs)
	task.AddItems(int64(len(objs)))
	f.SetCount(int64(len(objs)))
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: store %s: %w", e.component, FileName(e.component), err)
	}
	if len(meta.Missing) > 0 {
		e.log.Info(e.component+": expected objects not present in the namespace", "names", meta.Missing)
	}
	task.Done()
	return sink.Set(MetaKey, meta)
}

// writeList writes {"apiVersion":"v1","kind":"List","items":[...]}, one
// object at a time.
func writeList(w io.Writer, objs []*unstructured.Unstructured) error {
	if _, err := io.WriteString(w, `{"apiVersion":"v1","kind":"List","metadata":{},"items":[`); err != nil {
		return err
	}
	for i, o := range objs {
		b, err := json.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", o.GetKind(), o.GetName(), err)
		}
		if i > 0 {
			b = append([]byte(",\n"), b...)
		} else {
			b = append([]byte("\n"), b...)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n]}\n")
	return err
}

// Export writes the component's List, as stored, to w.
func Export(ctx context.Context, src artifact.Source, w io.Writer) error {
	files := src.Files()
	if len(files) != 1 {
		return errs.New(errs.Usage, "pick a snapshot that holds this component", "kube objects: expected one file in the component, found %d", len(files))
	}
	rc, err := src.Open(ctx, files[0].Name)
	if err != nil {
		return fmt.Errorf("kube objects: open %s: %w", files[0].Name, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("kube objects: export %s: %w", files[0].Name, err)
	}
	return nil
}

// dynamicResource is the namespaced dynamic client of one resource.
type dynamicResource = dynamic.ResourceInterface
