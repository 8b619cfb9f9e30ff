package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	corev1 "k8s.io/api/core/v1"
)

// JournalConfigMap is the namespaced object that mirrors the progress of
// the last restore into the namespace, for whoever looks at the cluster
// (kubectl get configmap 3scale-ops-restore-journal -o yaml). The journal
// itself lives in the repository. It carries no 3scale label, so backups
// never collect it.
const JournalConfigMap = "3scale-ops-restore-journal"

// JournalAnnotation is where versions before the ConfigMap mirrored the
// progress: on the Namespace, which needs a cluster-scoped patch rule. It
// is still read (when the caller may) so that a restore interrupted under
// an older version is found.
const JournalAnnotation = "3scale-ops.3scale.net/restore"

// journalLabels mark the mirror as 3scale-ops' own.
var journalLabels = map[string]string{"app.kubernetes.io/managed-by": "3scale-ops", "app.kubernetes.io/component": "restore-journal"}

// Mirror is the state a namespace records of its last restore.
type Mirror struct {
	Snapshot string
	Step     string // the last step that ran, "name=status"
	Finished bool
	Updated  string // RFC 3339
	Source   string // where it was read: the ConfigMap or the legacy annotation
}

// MirrorJournal writes the journal's state into the namespace's
// JournalConfigMap (get, create or update configmaps: the generated Role's
// verbs).
func MirrorJournal(ctx context.Context, kc *kube.Clients, j *Journal) error {
	last := ""
	var steps []string
	for _, s := range j.Steps {
		if s.Status != Pending {
			last = s.Name + "=" + s.Status
		}
		steps = append(steps, s.Name+"="+s.Status)
	}
	data := map[string]string{
		"snapshot": j.Snapshot,
		"step":     last,
		"steps":    strings.Join(steps, " "),
		"finished": strconv.FormatBool(j.Finished),
		"started":  j.Started.Format(time.RFC3339),
		"updated":  j.Updated.Format(time.RFC3339),
		"journal":  "restores/" + j.Name() + ".json",
	}
	return kc.PutConfigMap(ctx, j.Namespace, JournalConfigMap, journalLabels, data)
}

// ReadMirror reads what namespace ns records of its last restore: the
// JournalConfigMap, else the annotation older versions wrote (skipped when
// the Namespace cannot be read). ok is false when neither exists.
func ReadMirror(ctx context.Context, kc *kube.Clients, ns string) (m Mirror, ok bool, err error) {
	data, found, err := kc.GetConfigMapData(ctx, ns, JournalConfigMap)
	if err != nil {
		return Mirror{}, false, err
	}
	if found {
		return Mirror{Snapshot: data["snapshot"], Step: data["step"], Finished: data["finished"] == "true", Updated: data["updated"],
			Source: "ConfigMap " + JournalConfigMap}, true, nil
	}
	val, err := kc.NamespaceAnnotation(ctx, ns, JournalAnnotation)
	if err != nil || val == "" {
		return Mirror{}, false, nil // a namespaced Role cannot read the Namespace: nothing known
	}
	// "snapshot=ID step=NAME=STATUS finished=BOOL updated=TIME"
	m = Mirror{Source: "namespace annotation " + JournalAnnotation}
	for _, f := range strings.Fields(val) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "snapshot":
			m.Snapshot = v
		case "step":
			m.Step = v
		case "finished":
			m.Finished = v == "true"
		case "updated":
			m.Updated = v
		}
	}
	return m, m.Snapshot != "", nil
}

// SnapshotSecrets reads the Secrets the snapshot holds (their values are
// registered as secrets).
func SnapshotSecrets(ctx context.Context, r *repo.Repository, m *repo.Manifest) ([]corev1.Secret, error) {
	src, err := r.Source(m, component.Secrets)
	if err != nil {
		return nil, err
	}
	files := src.Files()
	if len(files) == 0 {
		return nil, nil
	}
	rc, err := src.Open(ctx, files[0].Name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var list struct {
		Items []corev1.Secret `json:"items"`
	}
	if err := json.NewDecoder(rc).Decode(&list); err != nil {
		return nil, fmt.Errorf("snapshot %s: secrets: %w", m.ID, err)
	}
	for _, s := range list.Items {
		redact.SecretData(s.Data)
	}
	return list.Items, nil
}
