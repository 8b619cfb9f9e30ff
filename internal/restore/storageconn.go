package restore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/config"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// s3Secret is the secret holding system-storage's S3 settings: the one
// with AWS_BUCKET (aws-auth, or the APIManager's
// fileStorage.simpleStorageService.configurationSecretRef).
func s3Secret(secrets []corev1.Secret) *corev1.Secret {
	for i := range secrets {
		if len(secrets[i].Data["AWS_BUCKET"]) > 0 {
			return &secrets[i]
		}
	}
	return nil
}

// s3Keys are the keys of the S3 secret that name bucket loc (the 3scale
// operator's names, pkg/3scale/amp/component): the bucket, and the region,
// endpoint, protocol, path style and credentials the restore reached it
// with, each when known or already in the secret (has).
func s3Keys(loc config.S3Location, has func(string) bool) map[string]string {
	out := map[string]string{"AWS_BUCKET": loc.Bucket}
	if loc.Region != "" {
		out["AWS_REGION"] = loc.Region
	}
	if has("AWS_HOSTNAME") || !strings.HasSuffix(loc.Endpoint, ".amazonaws.com") {
		out["AWS_HOSTNAME"] = loc.Endpoint
	}
	if has("AWS_PROTOCOL") || loc.Insecure {
		out["AWS_PROTOCOL"] = map[bool]string{true: "http", false: "https"}[loc.Insecure]
	}
	if has("AWS_PATH_STYLE") || loc.PathStyle {
		out["AWS_PATH_STYLE"] = strconv.FormatBool(loc.PathStyle)
	}
	if loc.AccessKey != "" && loc.SecretKey != "" {
		out["AWS_ACCESS_KEY_ID"], out["AWS_SECRET_ACCESS_KEY"] = loc.AccessKey, loc.SecretKey
	}
	return out
}

// planStorage adds to p the keys of the S3 secret that must change for
// 3scale to read system-storage from the bucket the restore writes it
// to, classified as PlanConnections does for the databases.
func planStorage(ctx context.Context, p *ConnPlan, kc *kube.Clients, conns *config.Connections, mode string, restoresSecrets bool, snapshot []corev1.Secret) error {
	st := conns.SystemStorage
	if conns.Errs[config.SystemStorage] != nil || st.Kind != "s3" {
		return nil
	}
	list, err := kc.Typed.CoreV1().Secrets(conns.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return errs.Wrap(errs.Failure, fmt.Errorf("list secrets of namespace %s: %w", conns.Namespace, err), "check that your role may list secrets in the namespace")
	}
	live := s3Secret(list.Items)
	origin := config.OriginNamespace
	if strings.HasPrefix(st.Source, "flag ") {
		origin = config.OriginFlag
	}
	var name string
	var will map[string][]byte
	inSecrets := false
	if snap := s3Secret(snapshot); restoresSecrets && snap != nil {
		name, will, inSecrets = snap.Name, snap.Data, true
	} else if live != nil {
		name, will = live.Name, live.Data
	} else {
		return nil // no S3 secret: 3scale reads the bucket from nowhere the restore could set
	}
	desired := map[string]*string{}
	if origin == config.OriginNamespace {
		if live == nil || live.Name != name {
			return nil
		}
		for k := range s3Keys(st.S3, func(string) bool { return true }) {
			if v, ok := live.Data[k]; ok {
				desired[k] = ptr(string(v))
			}
		}
	} else {
		for k, v := range s3Keys(st.S3, func(k string) bool { _, ok := will[k]; return ok }) {
			desired[k] = ptr(v)
		}
	}
	p.add(desired, will, func(k string, v *string) KeyChange {
		return KeyChange{Secret: name, Key: k, Value: v, Connection: config.SystemStorage, Origin: origin}
	}, func(old []byte, had bool, v *string) bool { return had && string(old) == *v }, mode, inSecrets)
	return nil
}
