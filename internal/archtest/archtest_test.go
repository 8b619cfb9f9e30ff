package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/3scale-ops/3scale-ops"

type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
}

// rule: packages (by path under internal/) must not depend, directly or
// through others, on any package that matches a forbidden prefix.
type rule struct {
	why       string
	packages  []string
	forbidden []string // module-relative ("internal/kube") or external prefixes ("k8s.io/")
	stdlib    bool     // only the standard library and other stdlib-only packages
}

var kubernetes = []string{"k8s.io/", "sigs.k8s.io/", "internal/kube", "internal/kubeobjects", "internal/config", "internal/engines", "internal/restore", "internal/drill"}

var rules = []rule{
	{why: "engines and the data path never reach Kubernetes or connection discovery; they take interfaces (rdb.FileModeTarget, storage.Pod)",
		packages:  []string{"backup", "repo", "mysqldump", "pgdump", "rdb", "storage", "artifact", "verify"},
		forbidden: kubernetes},
	{why: "the contract and leaf packages are stdlib-only",
		packages: []string{"artifact", "component", "errs", "progress", "redact"}, stdlib: true},
	{why: "engines do not know the repository or each other",
		packages:  []string{"mysqldump", "pgdump", "rdb", "storage"},
		forbidden: []string{"internal/repo", "internal/backup", "internal/mysqldump", "internal/pgdump", "internal/rdb", "internal/storage", "internal/verify"}},
}

func load(t *testing.T) map[string]pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the import check needs the go command on PATH: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	all := map[string]pkg{}
	dec := json.NewDecoder(out)
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("go list -json: %v", err)
		}
		all[strings.TrimPrefix(p.ImportPath, module+"/")] = p
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list -json %s/...: %v\n%s", module, err, stderr.String())
	}
	return all
}

func matches(dep string, prefixes []string) bool {
	rel := strings.TrimPrefix(dep, module+"/")
	for _, f := range prefixes {
		if strings.HasPrefix(f, "internal/") {
			if rel == f || strings.HasPrefix(rel, f+"/") {
				return true
			}
		} else if strings.HasPrefix(dep, f) {
			return true
		}
	}
	return false
}

// stdlibPath: no dot in the first element means the standard library.
func stdlibPath(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

func TestImportRules(t *testing.T) {
	all := load(t)
	for _, r := range rules {
		for _, name := range r.packages {
			p, ok := all["internal/"+name]
			if !ok {
				t.Errorf("package internal/%s is gone: update the rules here and in docs/development.md", name)
				continue
			}
			var bad []string
			for _, d := range p.Deps {
				if d == p.ImportPath {
					continue
				}
				if r.stdlib && !stdlibPath(d) || matches(d, r.forbidden) {
					bad = append(bad, d)
				}
			}
			if len(bad) > 0 {
				slices.Sort(bad)
				if len(bad) > 8 {
					bad = append(bad[:8], "…")
				}
				t.Errorf("internal/%s depends on %s\n  rule: %s\n  (see docs/development.md, \"Allowed imports\"; `go list -deps ./internal/%s` shows the chain)",
					name, strings.Join(bad, ", "), r.why, name)
			}
		}
	}
}

// TestNoLibraryImportsTheCLI: only cmd/ and e2e/ sit above the libraries.
func TestNoLibraryImportsTheCLI(t *testing.T) {
	for name, p := range load(t) {
		if !strings.HasPrefix(name, "internal/") {
			continue
		}
		for _, d := range p.Imports {
			if strings.HasPrefix(d, module+"/cmd/") || strings.HasPrefix(d, module+"/e2e") || strings.HasPrefix(d, module+"/bench") {
				t.Errorf("%s imports %s: libraries never import commands or tests", name, d)
			}
		}
	}
}

// TestRulesCatchAViolation proves the check sees a forbidden dependency:
// internal/config reaches client-go, so a rule forbidding it there fails.
func TestRulesCatchAViolation(t *testing.T) {
	all := load(t)
	p := all["internal/config"]
	found := slices.ContainsFunc(p.Deps, func(d string) bool { return matches(d, []string{"k8s.io/"}) })
	if !found {
		t.Fatalf("internal/config's dependencies %v show no k8s.io package: the check cannot see imports", p.Deps)
	}
	if !matches(module+"/internal/kube/kubetest", []string{"internal/kube"}) || matches(module+"/internal/kubeobjectsx", []string{"internal/kube"}) {
		t.Fatal("prefix matching is wrong")
	}
}
