package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
)

// crRecord parses the APIManager's record of replicas before --down-all.
func (st *state) crRecord() map[string]int32 {
	rec := map[string]int32{}
	if st.apim == nil {
		return rec
	}
	if v, ok := st.apim.GetAnnotations()[RecordAnnotation]; ok {
		_ = json.Unmarshal([]byte(v), &rec) // a hand-mangled record counts as none
	}
	return rec
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
			if prev, had := crRec[c.Name]; cur == 0 && had {
				cur = prev
			}
			crRec[c.Name] = cur
			recorded[c.Name] = cur
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
			if st.apim != nil {
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
	for name, n := range crRec {
		c, ok := Lookup(name)
		if !ok || c.CRPath == nil {
			continue
		}
		setPath(spec, c.CRPath[1:], "replicas", n)
		restored[name] = n
	}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{RecordAnnotation: nil}},
		"spec":     spec,
	})
	if err := s.kc.PatchAPIManager(ctx, s.ns, st.apim.GetName(), patch); err != nil {
		return restored, err
	}
	s.Log.Info("resumed through the APIManager", "apimanager", st.apim.GetName())
	return restored, nil
}
