package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// crEntry is the record of one component scaled through the APIManager:
// the count it ran at and, when the CR had no replicas field (for the
// operator, "not enforced"), how much of the field's path existed, so that
// --resume removes exactly what --down-all added. It is stored as the
// count alone when the field was set, else as {"was":N,"existed":"spec.zync"}.
type crEntry struct {
	Was     int32
	Absent  bool
	Existed []string // the path objects that existed, from "spec"
}

func (e crEntry) MarshalJSON() ([]byte, error) {
	if !e.Absent {
		return json.Marshal(e.Was)
	}
	return json.Marshal(map[string]any{"was": e.Was, "existed": strings.Join(e.Existed, ".")})
}

func (e *crEntry) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &e.Was); err == nil {
		return nil
	}
	var o struct {
		Was     int32  `json:"was"`
		Existed string `json:"existed"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*e = crEntry{Was: o.Was, Absent: true, Existed: strings.Split(o.Existed, ".")}
	return nil
}

// crRecord parses the APIManager's record of replicas before --down-all.
func (st *state) crRecord() map[string]crEntry {
	rec := map[string]crEntry{}
	if st.apim == nil {
		return rec
	}
	if v, ok := st.apim.GetAnnotations()[RecordAnnotation]; ok {
		if json.Unmarshal([]byte(v), &rec) != nil {
			rec = map[string]crEntry{} // a hand-mangled record counts as none
		}
	}
	return rec
}

// entry records c as the CR has it now, field presence included.
func (st *state) entry(c Component, cur int32) crEntry {
	if _, set := st.crReplicas(c); set {
		return crEntry{Was: cur}
	}
	e := crEntry{Was: cur, Absent: true}
	for i := range c.CRPath {
		if _, found, _ := unstructured.NestedMap(st.apim.Object, c.CRPath[:i+1]...); !found {
			break
		}
		e.Existed = c.CRPath[:i+1]
	}
	return e
}

// resumePatch sets spec (a merge patch below "spec") back to what e records.
func resumePatch(spec map[string]any, c Component, e crEntry) {
	if !e.Absent {
		setPath(spec, c.CRPath[1:], "replicas", e.Was)
		return
	}
	if len(e.Existed) >= len(c.CRPath) {
		setPath(spec, c.CRPath[1:], "replicas", nil)
		return
	}
	// remove the first object down-all created, unless a shorter one goes already
	n := max(len(e.Existed), 1)
	m := spec
	for _, p := range c.CRPath[1:n] {
		v, ok := m[p]
		if ok && v == nil {
			return
		}
		next, isMap := v.(map[string]any)
		if !isMap {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[c.CRPath[n]] = nil
}

// wlRecord reads a workload's record of replicas before --down-all.
func wlRecord(w kube.Workload) (int32, bool) {
	v, ok := w.Annotations[RecordAnnotation]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}

// DownAll records the current replicas of every quiesce component (apicast,
// backend, system-app/sidekiq/sphinx/searchd, zync, zync-que) and scales
// them to 0. It returns the recorded counts, for restore to journal.
//
// Idempotent: a component already at 0 keeps the count recorded by the
// earlier run, so running it twice never records zeros. The record is
// written before (or, on the APIManager, in the same patch as) the scale,
// so an interruption never loses it. Databases, Redis and memcache keep
// running: restore loads into them.
func (s *Scaler) DownAll(ctx context.Context) (map[string]int32, error) {
	st, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := st.kind(); err != nil {
		return nil, errs.Wrap(errs.Failure, err, "check -n/--namespace: it must be the namespace 3scale runs in")
	}
	var hpa []string
	for _, c := range components {
		if _, ok := st.workloads[c.Name]; ok && c.Quiesce && st.hpa(c) {
			hpa = append(hpa, c.Name+" ("+strings.Join(c.CRPath, ".")+".hpa)")
		}
	}
	if len(hpa) > 0 {
		return nil, errs.New(errs.Failure, "set hpa: false for them in the APIManager (an HPA never scales to 0), then run again; nothing was changed",
			"cannot scale to 0 components whose replicas a HorizontalPodAutoscaler controls: %s", strings.Join(hpa, ", "))
	}
	recorded := map[string]int32{}
	crRec := st.crRecord()
	spec := map[string]any{}
	for _, c := range components {
		w, ok := st.workloads[c.Name]
		if !ok || !c.Quiesce {
			continue
		}
		cur := st.desired(c, w)
		if st.viaCR(c) {
			e, had := crRec[c.Name]
			if cur != 0 || !had {
				e = st.entry(c, cur)
			}
			crRec[c.Name] = e
			recorded[c.Name] = e.Was
			setPath(spec, c.CRPath[1:], "replicas", 0)
			continue
		}
		if prev, had := wlRecord(w); cur == 0 && had {
			cur = prev
		}
		recorded[c.Name] = cur
		v := strconv.Itoa(int(cur))
		if err := s.kc.AnnotateWorkload(ctx, s.ns, w.Kind, w.Name, RecordAnnotation, &v); err != nil {
			return recorded, err
		}
		if w.Desired != 0 {
			if err := s.kc.ScaleWorkload(ctx, s.ns, w.Kind, w.Name, 0); err != nil {
				return recorded, err
			}
			if st.apim != nil && !c.Direct {
				s.Log.Warn("scaled an operator-managed component directly; the operator may scale it back", "component", c.Name)
			}
		}
		s.Log.Info("scaled down", "component", c.Name, "kind", w.Kind, "recorded", cur)
	}
	if len(spec) > 0 {
		b, _ := json.Marshal(crRec)
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{RecordAnnotation: string(b)}},
			"spec":     spec,
		})
		if err := s.kc.PatchAPIManager(ctx, s.ns, st.apim.GetName(), patch); err != nil {
			return recorded, err
		}
		s.Log.Info("scaled down through the APIManager", "apimanager", st.apim.GetName(), "recorded", string(b))
	}
	return recorded, nil
}

// Resume scales every component back to the count --down-all recorded and
// removes the record. It returns what it restored; with no record it does
// nothing (so running it twice is harmless).
func (s *Scaler) Resume(ctx context.Context) (map[string]int32, error) {
	st, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	restored := map[string]int32{}
	for i := len(components) - 1; i >= 0; i-- {
		c := components[i]
		w, ok := st.workloads[c.Name]
		if !ok || st.viaCR(c) {
			continue
		}
		n, had := wlRecord(w)
		if !had {
			if _, present := w.Annotations[RecordAnnotation]; present {
				return restored, errs.New(errs.Failure, fmt.Sprintf("set it to the replica count wanted (kubectl annotate %s/%s %s=N --overwrite) and run again", strings.ToLower(w.Kind), w.Name, RecordAnnotation),
					"%s %s: unreadable %s annotation %q", w.Kind, w.Name, RecordAnnotation, w.Annotations[RecordAnnotation])
			}
			continue
		}
		if err := s.kc.ScaleWorkload(ctx, s.ns, w.Kind, w.Name, n); err != nil {
			return restored, err
		}
		if err := s.kc.AnnotateWorkload(ctx, s.ns, w.Kind, w.Name, RecordAnnotation, nil); err != nil {
			return restored, err
		}
		restored[c.Name] = n
		s.Log.Info("resumed", "component", c.Name, "kind", w.Kind, "replicas", n)
	}
	if st.apim == nil {
		return restored, nil
	}
	crRec := st.crRecord()
	if len(crRec) == 0 {
		return restored, nil
	}
	spec := map[string]any{}
	for _, c := range components { // in order: a removed parent wins over its children
		e, ok := crRec[c.Name]
		if !ok || c.CRPath == nil {
			continue
		}
		resumePatch(spec, c, e)
		restored[c.Name] = e.Was
	}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{RecordAnnotation: nil}},
		"spec":     spec,
	})
	if err := s.kc.PatchAPIManager(ctx, s.ns, st.apim.GetName(), patch); err != nil {
		return restored, err
	}
	s.Log.Info("resumed through the APIManager", "apimanager", st.apim.GetName())
	// Without the field the operator no longer sets the count: the
	// workload goes back to it directly.
	for _, c := range components {
		e, ok := crRec[c.Name]
		w, present := st.workloads[c.Name]
		if !ok || !e.Absent || !present || c.CRPath == nil {
			continue
		}
		if err := s.kc.ScaleWorkload(ctx, s.ns, w.Kind, w.Name, e.Was); err != nil {
			return restored, err
		}
		s.Log.Info("resumed", "component", c.Name, "kind", w.Kind, "replicas", e.Was, "apimanager_field", "absent, as before")
	}
	return restored, nil
}

// HoldAtZero prepares an APIManager about to be created where 3scale does
// not run yet (the cluster is gone): every component the CR scales is set
// to 0 replicas and the count it asked for is recorded the way DownAll
// records it, so that the operator builds the workloads without starting
// them and Resume later brings them to the recorded counts. A component
// without a replicas field is recorded as absent with the operator's
// default of 1. It returns the recorded counts.
func HoldAtZero(apim *unstructured.Unstructured) map[string]int32 {
	st := &state{apim: apim}
	rec := st.crRecord()
	out := map[string]int32{}
	for _, c := range components {
		if c.CRPath == nil || !c.Quiesce {
			continue
		}
		cur, set := st.crReplicas(c)
		if !set {
			cur = 1
		}
		e, had := rec[c.Name]
		if cur != 0 || !had {
			e = st.entry(c, cur)
		}
		rec[c.Name] = e
		out[c.Name] = e.Was
		path := append(append([]string{}, c.CRPath...), "replicas")
		_ = unstructured.SetNestedField(apim.Object, int64(0), path...)
	}
	b, _ := json.Marshal(rec)
	ann := apim.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[RecordAnnotation] = string(b)
	apim.SetAnnotations(ann)
	return out
}
