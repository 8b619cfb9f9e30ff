package schedule

import (
	"bytes"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// ManifestOptions parameterise the generated Kubernetes objects.
type ManifestOptions struct {
	Namespace      string // where 3scale runs (default "3scale")
	Image          string
	BackupSchedule string // CronJob schedule
	TimeZone       string
	RepoSecret     string // secret with THREESCALE_OPS_REPO, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, THREESCALE_OPS_PASSWORD
}

// Defaults of ManifestOptions.
const (
	DefaultNamespace = "3scale"
	DefaultImage     = "quay.io/3scale-ops/3scale-ops:latest"
	Name             = "3scale-ops"
	// MetricsService is the daemon's Service. A Service name is a DNS-1035
	// label (it must start with a letter), so it cannot be Name-based.
	MetricsService = "threescale-ops-metrics"
)

// ManifestKinds are the arguments of `3scale-ops manifests`.
var ManifestKinds = []string{"cronjob", "rbac", "schedule", "all"}

// Rules is the least-privilege Role of 3scale-ops, derived from the table
// of kinds the tool reads and writes (kube.Kinds): config reads secrets and
// configmaps; kubeobjects backs up and restores secrets, configmaps, the
// APIManager and every capability kind (create, update, delete-and-recreate
// of immutable objects); scale reads workloads, patches the APIManager,
// scale subresources and pod templates, instantiates DeploymentConfigs;
// storage, reindex and zync resync exec into pods found by label; zync
// reads routes.
func Rules() []rbacv1.PolicyRule { return kube.Rules() }

func (o *ManifestOptions) defaults() {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.BackupSchedule == "" {
		o.BackupSchedule = "0 2 * * *"
	}
	if o.TimeZone == "" {
		o.TimeZone = "UTC"
	}
	if o.RepoSecret == "" {
		o.RepoSecret = Name + "-repo"
	}
}

func (o ManifestOptions) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: map[string]string{"app.kubernetes.io/name": Name, "app.kubernetes.io/part-of": "3scale-api-management"}}
}

// Manifests renders kind (cronjob, rbac, schedule or all) as multi-document
// YAML. "all" is rbac, the backup CronJob and the daemon running prune and
// purge-alerts (backups stay with the CronJob); "schedule" alone is the
// daemon doing backups too, the alternative to the CronJob.
func Manifests(kind string, o ManifestOptions) ([]byte, error) {
	o.defaults()
	var objs []any
	switch kind {
	case "rbac":
		objs = o.rbac()
	case "cronjob":
		objs = []any{o.cronJob()}
	case "schedule":
		objs = o.daemon(true)
	case "all":
		objs = append(append(o.rbac(), o.cronJob()), o.daemon(false)...)
	default:
		return nil, errs.UsageError("choose cronjob, rbac, schedule or all", "unknown manifest kind %q", kind)
	}
	var b bytes.Buffer
	for i, obj := range objs {
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(y, &m); err != nil {
			return nil, err
		}
		clean(m)
		if y, err = yaml.Marshal(m); err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// clean drops the empty fields typed objects marshal (creationTimestamp: null, status: {}).
func clean(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			clean(x)
			if len(x) == 0 {
				delete(m, k)
			}
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					clean(em)
				}
			}
		}
	}
}

func (o ManifestOptions) rbac() []any {
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: o.meta(Name)}
	role := &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: o.meta(Name), Rules: Rules()}
	rb := &rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, ObjectMeta: o.meta(Name),
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: Name, Namespace: o.Namespace}}}
	return []any{sa, role, rb}
}

func ptr[T any](v T) *T { return &v }

func (o ManifestOptions) pod(component string, args []string, restart corev1.RestartPolicy, grace int64) corev1.PodTemplateSpec {
	c := corev1.Container{
		Name: Name, Image: o.Image, Args: args,
		Env: []corev1.EnvVar{
			{Name: "THREESCALE_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "THREESCALE_OPS_LOG_FORMAT", Value: "json"},
			{Name: "THREESCALE_OPS_NO_PROGRESS", Value: "true"},
			{Name: "TMPDIR", Value: "/tmp"},
		},
		EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: o.RepoSecret}}}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
			RunAsNonRoot: ptr(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/name": Name, "app.kubernetes.io/component": component}},
		Spec: corev1.PodSpec{
			ServiceAccountName: Name, RestartPolicy: restart, TerminationGracePeriodSeconds: ptr(grace),
			SecurityContext: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers:      []corev1.Container{c},
			Volumes:         []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

func (o ManifestOptions) cronJob() any {
	tpl := o.pod("backup", []string{"backup", "--tag", "trigger=cronjob"}, corev1.RestartPolicyNever, 120)
	return &batchv1.CronJob{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, ObjectMeta: o.meta(Name + "-backup"),
		Spec: batchv1.CronJobSpec{
			Schedule: o.BackupSchedule, TimeZone: ptr(o.TimeZone),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr(int64(3600)),
			SuccessfulJobsHistoryLimit: ptr(int32(3)), FailedJobsHistoryLimit: ptr(int32(5)),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				BackoffLimit: ptr(int32(1)), ActiveDeadlineSeconds: ptr(int64(6 * 3600)),
				Template: tpl,
			}},
		},
	}
}

func (o ManifestOptions) daemon(withBackup bool) []any {
	args := []string{"schedule", "--timezone", o.TimeZone, "--prune", "0 4 * * *", "--purge-alerts", "@daily", "--grace", "10m", "--listen", ":9090"}
	if withBackup {
		args = append([]string{"schedule", "--backup", o.BackupSchedule}, args[1:]...)
	}
	tpl := o.pod("schedule", args, corev1.RestartPolicyAlways, 660) // grace 10m + margin
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("metrics")}}, PeriodSeconds: 30}
	c := &tpl.Spec.Containers[0]
	c.Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}
	c.LivenessProbe, c.ReadinessProbe = probe, probe
	tpl.Annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "/metrics"}
	sel := map[string]string{"app.kubernetes.io/name": Name, "app.kubernetes.io/component": "schedule"}
	dep := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: o.meta(Name + "-schedule"),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, // never two daemons
			Template: tpl,
		},
	}
	svc := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: o.meta(MetricsService),
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")}}},
	}
	return []any{dep, svc}
}
