package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	corev1 "k8s.io/api/core/v1"
)

// JournalAnnotation mirrors a restore's progress on the namespace.
const JournalAnnotation = "3scale-ops.3scale.net/restore"

// MirrorJournal writes the journal's state into the namespace annotation.
func MirrorJournal(ctx context.Context, kc *kube.Clients, j *Journal) error {
	last := ""
	for _, s := range j.Steps {
		if s.Status != Pending {
			last = s.Name + "=" + s.Status
		}
	}
	val := fmt.Sprintf("snapshot=%s step=%s finished=%t updated=%s", j.Snapshot, last, j.Finished, j.Updated.Format(time.RFC3339))
	return kc.AnnotateNamespace(ctx, j.Namespace, JournalAnnotation, val)
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
