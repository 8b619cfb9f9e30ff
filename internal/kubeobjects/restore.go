package kubeobjects

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/artifact"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/restmapper"
)

// Report says what a restore did, object by object. It holds names and
// key names only, never values.
type Report struct {
	Component string   `json:"component"`
	Namespace string   `json:"namespace"`
	Created   []string `json:"created"`   // Kind/name
	Updated   []Change `json:"updated"`   // Kind/name and what differed
	Unchanged []string `json:"unchanged"` // Kind/name
	// Replaced are the keys set to other values than the snapshot's
	// (Options.SecretKeys), per secret.
	Replaced []Change `json:"replaced,omitempty"`
}

// Change is one updated object and the keys that differed: data keys for
// secrets and configmaps ("data.PASSWORD"), top-level fields otherwise
// ("spec.wildcardDomain"), labels and annotations ("metadata.labels.app").
type Change struct {
	Object string   `json:"object"`
	Keys   []string `json:"keys"`
}

// maxListSize bounds the List read into memory (kube objects are small;
// the API server itself refuses objects over 1.5 MB).
const maxListSize = 256 << 20

// readList loads the component's List from the snapshot.
func readList(ctx context.Context, src artifact.Source, component string) ([]*unstructured.Unstructured, error) {
	name := FileName(component)
	rc, err := src.Open(ctx, name)
	if err != nil {
		return nil, errs.Wrap(errs.Usage, fmt.Errorf("%s: open %s: %w", component, name, err), "the snapshot does not hold this component; pick another one or leave it out (--components)")
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxListSize+1))
	if err != nil {
		return nil, errs.Wrap(errs.Mismatch, fmt.Errorf("%s: read %s: %w", component, name, err), "run `3scale-ops backups verify --read-data` and use another snapshot")
	}
	if len(b) > maxListSize {
		return nil, errs.New(errs.Usage, "this is not a list of 3scale objects", "%s: %s is larger than %d MiB", component, name, maxListSize>>20)
	}
	var list struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Items      []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, errs.Wrap(errs.Mismatch, fmt.Errorf("%s: %s is not valid JSON: %w", component, name, err), "run `3scale-ops backups verify --read-data` and use another snapshot")
	}
	if list.Kind != "List" || list.APIVersion != "v1" {
		return nil, errs.New(errs.Mismatch, "run `3scale-ops backups verify --read-data` and use another snapshot", "%s: %s is not a v1 List (kind %q)", component, name, list.Kind)
	}
	out := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i, it := range list.Items {
		o := &unstructured.Unstructured{Object: it}
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			return nil, errs.New(errs.Mismatch, "run `3scale-ops backups verify --read-data` and use another snapshot", "%s: item %d of %s lacks apiVersion, kind or name", component, i, name)
		}
		out = append(out, o)
	}
	return out, nil
}

// mapper resolves the resources of the objects' kinds on the target.
func (e *Engine) mapper(objs []*unstructured.Unstructured) (map[schema.GroupVersionKind]schema.GroupVersionResource, error) {
	groups, err := restmapper.GetAPIGroupResources(e.kc.Typed.Discovery())
	if err != nil && len(groups) == 0 {
		return nil, errs.Wrap(errs.Failure, fmt.Errorf("%s: API discovery: %w", e.component, err), "check that the cluster is reachable (3scale-ops config --check)")
	}
	rm := restmapper.NewDiscoveryRESTMapper(groups)
	out := map[schema.GroupVersionKind]schema.GroupVersionResource{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if _, ok := out[gvk]; ok {
			continue
		}
		m, err := rm.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			if meta.IsNoMatchError(err) {
				return nil, errs.New(errs.Usage, "install the 3scale operator (its CRDs) in the target cluster first, or leave this component out (--components)",
					"%s: the target cluster does not know %s (%s): its CRD is not installed", e.component, gvk.Kind, gvk.GroupVersion())
			}
			return nil, fmt.Errorf("%s: map %s: %w", e.component, gvk, err)
		}
		out[gvk] = m.Resource
	}
	return out, nil
}

// Restore creates or updates every object of the snapshot; the Result
// carries the change report (Detail "objects").
func (e *Engine) Restore(ctx context.Context, src artifact.Source, task *progress.Task) (artifact.Result, error) {
	rep, err := e.RestoreReport(ctx, src, task)
	if err != nil {
		return artifact.Result{}, err
	}
	res := artifact.Result{Items: int64(len(rep.Created) + len(rep.Updated) + len(rep.Unchanged)),
		Summary: fmt.Sprintf("%d created, %d updated, %d unchanged", len(rep.Created), len(rep.Updated), len(rep.Unchanged)),
		Detail:  map[string]any{"objects": rep}}
	for _, u := range rep.Updated {
		res.Summary += fmt.Sprintf("; %s: %s", u.Object, strings.Join(u.Keys, ","))
	}
	for _, u := range rep.Replaced {
		res.Summary += fmt.Sprintf("; %s: %s set to the restore's targets", u.Object, strings.Join(u.Keys, ","))
	}
	return res, nil
}

// replaceKeys applies Options.SecretKeys to a secret about to be written
// and returns the keys whose value it changed ("data.URL").
func (e *Engine) replaceKeys(o *unstructured.Unstructured) []string {
	set := e.opts.SecretKeys[o.GetName()]
	if o.GetKind() != "Secret" || len(set) == 0 {
		return nil
	}
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	if data == nil {
		data = map[string]string{}
	}
	// stringData wins over data on the server: the replaced keys leave it.
	if sd, ok := o.Object["stringData"].(map[string]any); ok {
		for k := range set {
			if v, ok := sd[k].(string); ok {
				if _, dup := data[k]; !dup {
					data[k] = base64.StdEncoding.EncodeToString([]byte(v))
				}
				delete(sd, k)
			}
		}
	}
	var keys []string
	for k, v := range set {
		old, had := data[k]
		switch {
		case v == nil && had:
			delete(data, k)
		case v != nil && (!had || old != base64.StdEncoding.EncodeToString([]byte(*v))):
			data[k] = base64.StdEncoding.EncodeToString([]byte(*v))
		default:
			continue
		}
		keys = append(keys, "data."+k)
	}
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]any, len(data))
	for k, v := range data {
		m[k] = v
	}
	o.Object["data"] = m
	sort.Strings(keys)
	return keys
}

// RestoreReport creates the objects that do not exist, updates those that
// differ (listing the differing keys) and leaves the others alone. No
// object is ever skipped silently. On error, the report holds what was
// done before it.
func (e *Engine) RestoreReport(ctx context.Context, src artifact.Source, task *progress.Task) (*Report, error) {
	rep := &Report{Component: e.component, Namespace: e.ns, Created: []string{}, Updated: []Change{}, Unchanged: []string{}}
	objs, err := readList(ctx, src, e.component)
	if err != nil {
		return rep, err
	}
	gvrs, err := e.mapper(objs)
	if err != nil {
		return rep, err
	}
	var meta Meta
	_ = src.Get(MetaKey, &meta) // preflight checked it; without it no reference is moved
	task.SetTotal(0, int64(len(objs)))
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if o.GetKind() == "Secret" {
			registerSecret(o)
		}
		id := o.GetKind() + "/" + o.GetName()
		ri := e.kc.Dynamic.Resource(gvrs[o.GroupVersionKind()]).Namespace(e.ns)
		want := o.DeepCopy()
		want.SetNamespace(e.ns)
		moveRefs(want, meta.Namespace, e.ns)
		if e.opts.Transform != nil {
			e.opts.Transform(want)
		}
		if keys := e.replaceKeys(want); len(keys) > 0 {
			rep.Replaced = append(rep.Replaced, Change{Object: id, Keys: keys})
		}
		cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := ri.Create(ctx, want, metav1.CreateOptions{FieldManager: "3scale-ops"}); err != nil {
				return rep, e.writeErr("create", id, err)
			}
			rep.Created = append(rep.Created, id)
		case err != nil:
			return rep, e.writeErr("read", id, err)
		default:
			keys := diff(cur, want)
			if len(keys) == 0 {
				rep.Unchanged = append(rep.Unchanged, id)
				break
			}
			if err := e.update(ctx, ri, cur, want, id); err != nil {
				return rep, err
			}
			rep.Updated = append(rep.Updated, Change{Object: id, Keys: keys})
		}
		task.AddItems(1)
	}
	for _, c := range rep.Updated {
		e.log.Info(e.component+": updated", "object", c.Object, "keys", strings.Join(c.Keys, ","))
	}
	task.Done()
	return rep, nil
}

func (e *Engine) writeErr(op, id string, err error) error {
	return errs.Wrap(errs.Failure, fmt.Errorf("%s: %s %s in namespace %s: %v", e.component, op, id, e.ns, apiMessage(err)),
		"check that your role may get, create and update "+e.component+" in the namespace, then run the restore again (it is idempotent)")
}

// apiMessage keeps the API server's reason without echoing object content.
func apiMessage(err error) string {
	if s, ok := err.(apierrors.APIStatus); ok {
		st := s.Status()
		return fmt.Sprintf("%s (%d %s)", st.Message, st.Code, st.Reason)
	}
	return err.Error()
}

// contentFields are the parts of an object a restore owns.
func contentFields(o *unstructured.Unstructured) map[string]any {
	out := map[string]any{}
	for k, v := range o.Object {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
			continue
		}
		out[k] = v
	}
	return out
}

// diff lists the keys that differ between the live object and the
// backed-up one: labels and annotations (those the backup has), data
// keys for secrets/configmaps, top-level fields otherwise.
func diff(cur, want *unstructured.Unstructured) []string {
	var keys []string
	for _, part := range []struct {
		name      string
		cur, want map[string]string
	}{{"labels", cur.GetLabels(), want.GetLabels()}, {"annotations", cur.GetAnnotations(), want.GetAnnotations()}} {
		for k, v := range part.want {
			if cv, ok := part.cur[k]; !ok || cv != v {
				keys = append(keys, "metadata."+part.name+"."+k)
			}
		}
	}
	cf, wf := contentFields(cur), contentFields(want)
	for k := range union(cf, wf) {
		cv, wv := cf[k], wf[k]
		if reflect.DeepEqual(cv, wv) {
			continue
		}
		cm, cok := cv.(map[string]any)
		wm, wok := wv.(map[string]any)
		if (k == "data" || k == "binaryData" || k == "stringData") && (cok || cv == nil) && (wok || wv == nil) {
			for dk := range union(cm, wm) {
				if !reflect.DeepEqual(cm[dk], wm[dk]) {
					keys = append(keys, k+"."+dk)
				}
			}
			continue
		}
		if cok && wok && k == "spec" {
			for sk := range union(cm, wm) {
				if !reflect.DeepEqual(cm[sk], wm[sk]) {
					keys = append(keys, "spec."+sk)
				}
			}
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func union(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// update replaces the live object's content with the backup's, keeping
// the live metadata (resourceVersion, owners) and merging labels and
// annotations. Objects that cannot change in place (secret type,
// immutable objects) are deleted and created again.
func (e *Engine) update(ctx context.Context, ri dynamicResource, cur, want *unstructured.Unstructured, id string) error {
	next := cur.DeepCopy()
	for k := range contentFields(cur) {
		delete(next.Object, k)
	}
	for k, v := range contentFields(want) {
		next.Object[k] = v
	}
	labels, ann := cur.GetLabels(), cur.GetAnnotations()
	if labels == nil {
		labels = map[string]string{}
	}
	if ann == nil {
		ann = map[string]string{}
	}
	for k, v := range want.GetLabels() {
		labels[k] = v
	}
	for k, v := range want.GetAnnotations() {
		ann[k] = v
	}
	next.SetLabels(labels)
	next.SetAnnotations(ann)
	_, err := ri.Update(ctx, next, metav1.UpdateOptions{FieldManager: "3scale-ops"})
	if err == nil {
		return nil
	}
	if !apierrors.IsInvalid(err) {
		return e.writeErr("update", id, err)
	}
	// Immutable fields: replace the object.
	if derr := ri.Delete(ctx, cur.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(cur.GetUID())}}); derr != nil {
		return e.writeErr("replace (delete)", id, derr)
	}
	next.SetResourceVersion("")
	next.SetUID("")
	if _, err := ri.Create(ctx, next, metav1.CreateOptions{FieldManager: "3scale-ops"}); err != nil {
		return e.writeErr("replace (create)", id, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
