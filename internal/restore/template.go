package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/progress"
	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StepDeployTemplate is the pause of a restore into a namespace without
// 3scale from a snapshot of a template install (guide §7.5.1): once the
// secrets and configmaps are back, 3scale is deployed from the template
// with parameters read from them, by hand (`oc new-app`), and the restore
// continues with --resume.
const StepDeployTemplate = "deploy-template"

// FreshTemplate is the install kind of such a plan.
const FreshTemplate = "template, new (deployed with oc new-app from the restored secrets, then --resume)"

// paramFileKey records, in the journal's Values, the parameter file the
// pause wrote: a resume then checks for the workloads instead of pausing.
const paramFileKey = "template-param-file"

// TemplateWorkloads are the DeploymentConfigs of amp.yml the data steps
// and the scale-back need before a resume continues.
var TemplateWorkloads = []string{"system-app", "system-sidekiq", "backend-listener", "backend-worker", "apicast-production", "apicast-staging", "zync", "zync-que"}

// Param is one `oc new-app` parameter of amp.yml.
type Param struct {
	Name  string `json:"name"`
	From  string `json:"from"` // "secret system-seed key ADMIN_PASSWORD"
	Value string `json:"-"`
}

// paramSource is where §7.5.1 reads one template parameter: a secret or
// configmap key, or a piece of system-database's URL.
type paramSource struct {
	param, kind, object, key string
	pick                     func(string) string // nil: the value as it is
}

// templateParams are the parameters of amp.yml (3scale-amp-openshift-
// templates amp/amp.yml) that §7.5.1 derives from the restored objects, in
// the guide's order.
var templateParams = []paramSource{
	{"APP_LABEL", "label", "system-environment", "app", nil},
	{"TENANT_NAME", "secret", "system-seed", "TENANT_NAME", nil},
	{"SYSTEM_DATABASE_USER", "secret", "system-database", "DB_USER", nil},
	{"SYSTEM_DATABASE_PASSWORD", "secret", "system-database", "DB_PASSWORD", nil},
	{"SYSTEM_DATABASE", "secret", "system-database", "URL", urlDatabase},
	{"SYSTEM_DATABASE_ROOT_PASSWORD", "secret", "system-database", "URL", urlPassword},
	{"WILDCARD_DOMAIN", "configmap", "system-environment", "THREESCALE_SUPERDOMAIN", nil},
	{"SYSTEM_BACKEND_USERNAME", "secret", "backend-internal-api", "username", nil},
	{"SYSTEM_BACKEND_PASSWORD", "secret", "backend-internal-api", "password", nil},
	{"SYSTEM_BACKEND_SHARED_SECRET", "secret", "system-events-hook", "PASSWORD", nil},
	{"SYSTEM_APP_SECRET_KEY_BASE", "secret", "system-app", "SECRET_KEY_BASE", nil},
	{"ADMIN_PASSWORD", "secret", "system-seed", "ADMIN_PASSWORD", nil},
	{"ADMIN_USERNAME", "secret", "system-seed", "ADMIN_USER", nil},
	{"ADMIN_EMAIL", "secret", "system-seed", "ADMIN_EMAIL", nil},
	{"ADMIN_ACCESS_TOKEN", "secret", "system-seed", "ADMIN_ACCESS_TOKEN", nil},
	{"MASTER_NAME", "secret", "system-seed", "MASTER_DOMAIN", nil},
	{"MASTER_USER", "secret", "system-seed", "MASTER_USER", nil},
	{"MASTER_PASSWORD", "secret", "system-seed", "MASTER_PASSWORD", nil},
	{"MASTER_ACCESS_TOKEN", "secret", "system-seed", "MASTER_ACCESS_TOKEN", nil},
	{"RECAPTCHA_PUBLIC_KEY", "secret", "system-recaptcha", "PUBLIC_KEY", nil},
	{"RECAPTCHA_PRIVATE_KEY", "secret", "system-recaptcha", "PRIVATE_KEY", nil},
	{"SYSTEM_REDIS_URL", "secret", "system-redis", "URL", nil},
	{"SYSTEM_MESSAGE_BUS_REDIS_URL", "secret", "system-redis", "MESSAGE_BUS_URL", nil},
	{"SYSTEM_REDIS_NAMESPACE", "secret", "system-redis", "NAMESPACE", nil},
	{"SYSTEM_MESSAGE_BUS_REDIS_NAMESPACE", "secret", "system-redis", "MESSAGE_BUS_NAMESPACE", nil},
	{"ZYNC_DATABASE_PASSWORD", "secret", "zync", "ZYNC_DATABASE_PASSWORD", nil},
	{"ZYNC_SECRET_KEY_BASE", "secret", "zync", "SECRET_KEY_BASE", nil},
	{"ZYNC_AUTHENTICATION_TOKEN", "secret", "zync", "ZYNC_AUTHENTICATION_TOKEN", nil},
	{"APICAST_ACCESS_TOKEN", "secret", "system-master-apicast", "ACCESS_TOKEN", nil},
	{"APICAST_MANAGEMENT_API", "configmap", "apicast-environment", "APICAST_MANAGEMENT_API", nil},
	{"APICAST_OPENSSL_VERIFY", "configmap", "apicast-environment", "OPENSSL_VERIFY", nil},
	{"APICAST_RESPONSE_CODES", "configmap", "apicast-environment", "APICAST_RESPONSE_CODES", nil},
	{"APICAST_REGISTRY_URL", "configmap", "system-environment", "APICAST_REGISTRY_URL", nil},
}

// urlDatabase is the database of a mysql2:// URL (the guide's `cut -d / -f4`).
func urlDatabase(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	db, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	return db
}

// urlPassword is the password in a URL (the guide's `awk -F '[:@]' '{print $3}'`).
func urlPassword(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// TemplateParams derives the amp.yml parameters from the namespace's
// secrets and configmaps as §7.5.1 lists them. A parameter whose key the
// objects lack is left out (the template's default or generated value
// then applies) and named in absent.
func TemplateParams(secrets []corev1.Secret, cms []corev1.ConfigMap) (params []Param, absent []string) {
	sec := map[string]*corev1.Secret{}
	for i := range secrets {
		sec[secrets[i].Name] = &secrets[i]
	}
	cm := map[string]*corev1.ConfigMap{}
	for i := range cms {
		cm[cms[i].Name] = &cms[i]
	}
	for _, p := range templateParams {
		var v string
		var ok bool
		switch p.kind {
		case "secret":
			if s := sec[p.object]; s != nil {
				var b []byte
				b, ok = s.Data[p.key]
				v = string(b)
				if !ok {
					v, ok = s.StringData[p.key]
				}
			}
		case "configmap":
			if c := cm[p.object]; c != nil {
				v, ok = c.Data[p.key]
			}
		case "label":
			if c := cm[p.object]; c != nil {
				v, ok = c.Labels[p.key]
			}
		}
		from := p.kind + " " + p.object + " key " + p.key
		if p.kind == "label" {
			from = "configmap " + p.object + " label " + p.key
		}
		if !ok {
			absent = append(absent, p.param+" ("+from+")")
			continue
		}
		if p.pick != nil {
			v = p.pick(v)
		}
		params = append(params, Param{Name: p.param, From: from, Value: strings.TrimRight(v, "\r\n")})
	}
	return params, absent
}

// ParamDir is where the parameter file goes: --state-dir, else
// $XDG_STATE_HOME/3scale-ops, else ~/.local/state/3scale-ops.
func ParamDir(stateDir string) string {
	if stateDir != "" {
		return stateDir
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "3scale-ops")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "3scale-ops")
	}
	return "."
}

// WriteParamFile writes the parameters as `oc new-app --param-file`
// reads them (NAME=VALUE, one a line), readable by its owner only (0600,
// its directory 0700), and returns its path.
func WriteParamFile(dir, snapshot, namespace string, params []Param) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", errs.Wrap(errs.Usage, fmt.Errorf("create the directory of the template parameter file: %w", err), "pass a writable --state-dir")
	}
	path := filepath.Join(dir, "new-app-"+snapshot+"-"+namespace+".env")
	var b strings.Builder
	fmt.Fprintf(&b, "# amp.yml parameters of snapshot %s for namespace %s (guide 7.5.1): oc new-app --file amp.yml --param-file %s\n", snapshot, namespace, path)
	for _, p := range params {
		fmt.Fprintf(&b, "%s=%s\n", p.Name, p.Value)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", errs.Wrap(errs.Usage, fmt.Errorf("write the template parameter file: %w", err), "pass a writable --state-dir")
	}
	if err := f.Chmod(0o600); err != nil { // an older file may have been readable by others
		f.Close()
		return "", err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// Pause is where a restore stopped on purpose, for the user to act.
type Pause struct {
	Step      string   `json:"step"`
	ParamFile string   `json:"param_file"`
	Command   string   `json:"command"`
	Params    []Param  `json:"params"`
	Absent    []string `json:"absent,omitempty"` // parameters left to the template's defaults
	Resume    string   `json:"resume"`
	// Secrets are the parameters with their values (--show-secrets only;
	// never in JSON).
	Secrets []Param `json:"-"`
}

// PauseError stops the runner at a step that waits for the user; the
// journal records the step as paused, and Run reports the Pause with
// exit 0.
type PauseError struct{ Pause Pause }

func (e *PauseError) Error() string {
	return "paused at step " + e.Pause.Step + ": run " + e.Pause.Command + ", then " + e.Pause.Resume
}

// templateMissing lists the TemplateWorkloads the namespace lacks.
func templateMissing(ctx context.Context, kc *kube.Clients, ns string) ([]string, error) {
	ws, err := kc.ListWorkloads(ctx, ns)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range TemplateWorkloads {
		if !slices.ContainsFunc(ws, func(w kube.Workload) bool { return w.Name == name }) {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// deployTemplate is the deploy-template step. The first time it derives
// the parameters from the secrets and configmaps the restore has just put
// back, writes them to the parameter file, records the pause and stops;
// on --resume it checks that the template's workloads exist.
func deployTemplate(kc *kube.Clients, ns, snapshot, dir string, show bool) func(context.Context, *Journal, *progress.Task) (Result, error) {
	command := "oc new-app --file amp.yml --param-file "
	resume := fmt.Sprintf("`3scale-ops -n %s restore %s --resume --yes`", ns, snapshot)
	return func(ctx context.Context, j *Journal, task *progress.Task) (Result, error) {
		if file := j.Values[paramFileKey]; file != "" {
			task.SetPhase("check the template's workloads")
			missing, err := templateMissing(ctx, kc, ns)
			if err != nil {
				return Result{}, err
			}
			if len(missing) > 0 {
				return Result{}, errs.New(errs.Failure, "deploy 3scale from the template first ("+command+file+", with amp.yml of the snapshot's 3scale release), then run "+resume,
					"the template's workloads are not in namespace %s yet: %s missing", ns, strings.Join(missing, ", "))
			}
			return Result{Items: int64(len(TemplateWorkloads)), Summary: fmt.Sprintf("3scale deployed from the template (%d workloads, parameters from %s)", len(TemplateWorkloads), file)}, nil
		}
		task.SetPhase("derive the template parameters")
		secrets, err := kc.Typed.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return Result{}, errs.Wrap(errs.Failure, fmt.Errorf("list the restored secrets of namespace %s: %w", ns, err), "check that your role may list secrets in the namespace")
		}
		for _, s := range secrets.Items {
			redact.SecretData(s.Data)
		}
		cms, err := kc.Typed.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return Result{}, errs.Wrap(errs.Failure, fmt.Errorf("list the restored configmaps of namespace %s: %w", ns, err), "check that your role may list configmaps in the namespace")
		}
		params, absent := TemplateParams(secrets.Items, cms.Items)
		file, err := WriteParamFile(dir, snapshot, ns, params)
		if err != nil {
			return Result{}, err
		}
		if j.Values == nil {
			j.Values = map[string]string{}
		}
		j.Values[freshKey], j.Values[paramFileKey] = "template", file
		p := Pause{Step: StepDeployTemplate, ParamFile: file, Command: command + file, Params: params, Absent: absent,
			Resume: resume + " once the template's workloads exist (oc get dc)"}
		if show {
			p.Secrets = params
		}
		return Result{}, &PauseError{Pause: p}
	}
}

// SnapshotHasAPIManager reports whether the snapshot holds an APIManager
// (an operator install); without one it is taken for a template install.
func SnapshotHasAPIManager(m *repo.Manifest) bool {
	c := m.Component("apimanager")
	if c == nil {
		return false
	}
	var meta struct {
		Objects []string `json:"objects"`
	}
	if raw, ok := c.Meta["objects"]; ok && json.Unmarshal(raw, &meta) == nil {
		return slices.ContainsFunc(meta.Objects, func(o string) bool { return strings.HasPrefix(o, "APIManager/") })
	}
	return false
}
