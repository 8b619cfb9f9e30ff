package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/scale"
)

// FuzzDecodeJournal feeds restore journals, which anyone who can write
// the repository can write, to their decoder: it never panics, refuses
// with exit 2, accepts only the journal of the restore it was asked for,
// and what it accepts encodes and decodes again to the same journal.
// Seeds are journals written by a real run of the Runner.
func FuzzDecodeJournal(f *testing.F) {
	ctx := context.Background()
	store := testRepo(f)
	const snap = "20261123T020000Z-abcdef"
	plan := &Plan{Snapshot: snap, Steps: []*Step{
		{Name: StepPreflight, Always: true, Run: func(context.Context, *Journal, *progress.Task) (Result, error) {
			return Result{Items: 3, Summary: "3 checks"}, nil
		}},
		{Name: StepQuiesce, Run: func(_ context.Context, j *Journal, _ *progress.Task) (Result, error) {
			j.Replicas = map[string]int32{"system-app": 2, "apicast-production": 1}
			return Result{Detail: map[string]any{"replicas": j.Replicas}}, nil
		}},
		{Name: StepSystemMySQL, Run: func(context.Context, *Journal, *progress.Task) (Result, error) {
			return Result{}, errs.New(errs.Failure, "", "connection lost")
		}},
	}}
	for _, key := range []string{"3scale", "local-0123456789ab"} {
		_, _ = (&Runner{Store: store, Skip: map[string]string{StepScaleBack: "test"}}).Run(ctx, plan, &Journal{Snapshot: snap, Namespace: key,
			Options: map[string]string{"redis-mode": "replay"}, Values: map[string]string{"backend-redis/state": "AAAA"}})
		rc, err := store.Backend().Get(ctx, "restores/"+JournalName(snap, key)+".json")
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		f.Add(snap, key, raw)
	}
	f.Add(snap, "3scale", []byte(`{"snapshot":"`+snap+`","namespace":"other"}`))
	f.Add(snap, "", []byte(`{"snapshot":"`+snap+`","namespace":"local"}`))
	f.Add(snap, "3scale", []byte(`{"snapshot":"`+snap+`","namespace":"3scale","replicas":{"system-app":-1}}`))
	f.Fuzz(func(t *testing.T, snapshot, key string, raw []byte) {
		j, err := DecodeJournal(snapshot, key, raw)
		if err != nil {
			if errs.Code(err) != errs.Usage || errs.Hint(err) == "" {
				t.Fatalf("refused without exit 2 and a hint: exit %d %v", errs.Code(err), err)
			}
			return
		}
		if j.Snapshot != snapshot || j.Namespace != key {
			t.Fatalf("journal of %q into %q accepted for %q into %q", j.Snapshot, j.Namespace, snapshot, key)
		}
		for w, n := range j.Replicas {
			if _, ok := scale.Lookup(w); !ok || n < 0 || n > maxReplicas {
				t.Fatalf("replicas %s=%d accepted", w, n)
			}
		}
		enc, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("an accepted journal does not encode: %v", err)
		}
		j2, err := DecodeJournal(snapshot, key, enc)
		if err != nil {
			t.Fatalf("an accepted journal does not decode again: %v\n%s", err, enc)
		}
		enc2, _ := json.Marshal(j2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("journal encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}
