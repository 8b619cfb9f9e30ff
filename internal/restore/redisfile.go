package restore

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/scale"
	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RedisConfigMap is the ConfigMap holding redis.conf for the internal
// backend-redis and system-redis (3scale ≤ 2.15).
const RedisConfigMap = "redis-config"

// RedisDataDir is where the Redis images keep dump.rdb and the AOF.
const RedisDataDir = "/var/lib/redis/data"

// KubeRedisTarget is the guide's dump.rdb procedure against a Redis pod:
// persistence is edited in the redis-config ConfigMap and applied by
// rolling the workload out; files are moved and copied with exec in the
// pod. It implements rdb.FileModeTarget.
type KubeRedisTarget struct {
	KC        *kube.Clients
	Namespace string
	Workload  string // backend-redis or system-redis (also the container name)
	Scaler    *scale.Scaler
	Redis     *redis.Options // to wait until the server answers after a rollout
	Timeout   time.Duration
}

func (k *KubeRedisTarget) conf(ctx context.Context) (string, error) {
	cm, err := k.KC.Typed.CoreV1().ConfigMaps(k.Namespace).Get(ctx, RedisConfigMap, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("file mode edits ConfigMap %s/%s: %w (use --redis-mode replay for external Redis)", k.Namespace, RedisConfigMap, err)
	}
	c, ok := cm.Data["redis.conf"]
	if !ok {
		return "", fmt.Errorf("ConfigMap %s/%s has no redis.conf key", k.Namespace, RedisConfigMap)
	}
	return c, nil
}

// Persistence reads save and appendonly from redis.conf.
func (k *KubeRedisTarget) Persistence(ctx context.Context) (string, bool, error) {
	c, err := k.conf(ctx)
	if err != nil {
		return "", false, err
	}
	save, aof := parsePersistence(c)
	return save, aof, nil
}

// parsePersistence returns the active save points (joined) and appendonly.
func parsePersistence(conf string) (string, bool) {
	var saves []string
	aof := false
	for _, line := range strings.Split(conf, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "save" && f[1] != `""` {
			saves = append(saves, f[1:]...)
		}
		if len(f) == 2 && f[0] == "appendonly" {
			aof = f[1] == "yes"
		}
	}
	return strings.Join(saves, " "), aof
}

// withPersistence rewrites redis.conf: the guide comments the save lines
// out and sets appendonly; restoring writes the recorded save points back.
func withPersistence(conf, save string, aof bool) string {
	var out []string
	for _, line := range strings.Split(strings.TrimRight(conf, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 1 && (f[0] == "save" || f[0] == "appendonly") {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#3scale-ops save ") {
			continue
		}
		out = append(out, line)
	}
	if save == "" {
		out = append(out, `save ""`)
	} else {
		pts := strings.Fields(save)
		for i := 0; i+1 < len(pts); i += 2 {
			out = append(out, "save "+pts[i]+" "+pts[i+1])
		}
	}
	out = append(out, "appendonly "+map[bool]string{true: "yes", false: "no"}[aof])
	return strings.Join(out, "\n") + "\n"
}

// SetPersistence edits the ConfigMap, rolls the workload out and waits
// until Redis answers again.
func (k *KubeRedisTarget) SetPersistence(ctx context.Context, save string, aof bool) error {
	cms := k.KC.Typed.CoreV1().ConfigMaps(k.Namespace)
	cm, err := cms.Get(ctx, RedisConfigMap, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read ConfigMap %s/%s: %w", k.Namespace, RedisConfigMap, err)
	}
	next := withPersistence(cm.Data["redis.conf"], save, aof)
	if next != cm.Data["redis.conf"] {
		cm.Data["redis.conf"] = next
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update ConfigMap %s/%s: %w", k.Namespace, RedisConfigMap, err)
		}
	}
	if err := k.Scaler.Rollout(ctx, []string{k.Workload}, k.timeout(), nil); err != nil {
		return fmt.Errorf("roll out %s: %w", k.Workload, err)
	}
	return k.waitRedis(ctx)
}

func (k *KubeRedisTarget) timeout() time.Duration {
	if k.Timeout == 0 {
		return 10 * time.Minute
	}
	return k.Timeout
}

func (k *KubeRedisTarget) waitRedis(ctx context.Context) error {
	cl := redis.NewClient(k.Redis)
	defer cl.Close()
	deadline := time.Now().Add(k.timeout())
	var last error
	for time.Now().Before(deadline) {
		if last = cl.Ping(ctx).Err(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s does not answer after its rollout: %w", k.Workload, last)
}

// Exec runs a command in the Redis container of the workload's pod.
func (k *KubeRedisTarget) Exec(ctx context.Context, cmd []string, stdin io.Reader, stdout io.Writer) error {
	p, err := kube.FindPod(ctx, k.KC.Typed, k.Namespace, k.Workload)
	if err != nil {
		return err
	}
	return kube.Exec(ctx, k.KC.Config, k.Namespace, p.Name, k.Workload, cmd, stdin, stdout, nil)
}

// DataDir implements rdb.FileModeTarget.
func (k *KubeRedisTarget) DataDir() string { return RedisDataDir }

// JournalSteps keeps the file-mode sub-steps of one component in the
// restore journal, saved at once, so that a resumed restore skips the
// sub-steps already done (rdb.Journal).
type JournalSteps struct {
	J    *Journal
	Key  string // e.g. "backend-redis"
	Save func() error
}

// Step implements rdb.Journal.
func (s *JournalSteps) Step(name string) ([]byte, bool, error) {
	v, ok := s.J.Values[s.Key+"/"+name]
	if !ok {
		return nil, false, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	return b, true, err
}

// MarkStep implements rdb.Journal.
func (s *JournalSteps) MarkStep(name string, state []byte) error {
	if s.J.Values == nil {
		s.J.Values = map[string]string{}
	}
	s.J.Values[s.Key+"/"+name] = base64.StdEncoding.EncodeToString(state)
	if s.Save != nil {
		return s.Save()
	}
	return nil
}
