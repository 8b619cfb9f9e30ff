package fingerprint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/restore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Tree fingerprints a directory tree: every entry's type and mode; files'
// size, sha256 and modification time (seconds); symlinks' targets. A
// missing root is an empty tree.
func Tree(root string) (State, error) {
	st := State{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == root {
				return filepath.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			st[rel] = "symlink -> " + target
		case info.IsDir():
			st[rel+"/"] = fmt.Sprintf("dir %o", info.Mode().Perm())
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			st[rel] = fmt.Sprintf("file %o size=%d mtime=%d sha256=%s", info.Mode().Perm(), info.Size(), info.ModTime().Unix(), hex.EncodeToString(h.Sum(nil))[:24])
		default:
			st[rel] = "special " + info.Mode().String()
		}
		return nil
	})
	return st, err
}

var (
	gvrDC   = schema.GroupVersionResource{Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"}
	gvrDep  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrAPIM = schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}
)

// Kube fingerprints a namespace: every secret's and configmap's data
// (type and a digest of the sorted keys and values; service-account
// tokens, the API server's root CA configmap and the restore journal's
// mirror excluded), the spec of
// each APIManager, and the spec.replicas of every DeploymentConfig and
// Deployment.
func Kube(ctx context.Context, kc *kube.Clients, ns string) (State, error) {
	st := State{}
	secrets, err := kc.Typed.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list secrets in %s: %w", ns, err)
	}
	for _, s := range secrets.Items {
		if s.Type == "kubernetes.io/service-account-token" {
			continue
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		for k, v := range s.StringData {
			data[k] = v
		}
		st["secret:"+s.Name] = string(s.Type) + " " + mapDigest(data)
	}
	cms, err := kc.Typed.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list configmaps in %s: %w", ns, err)
	}
	for _, c := range cms.Items {
		if c.Name == "kube-root-ca.crt" || c.Name == restore.JournalConfigMap {
			continue // the API server's, and the restore's own progress record
		}
		data := map[string]string{}
		for k, v := range c.Data {
			data[k] = v
		}
		for k, v := range c.BinaryData {
			data["binary:"+k] = string(v)
		}
		st["configmap:"+c.Name] = mapDigest(data)
	}
	apims, err := kc.Dynamic.Resource(gvrAPIM).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list apimanagers in %s: %w", ns, err)
	}
	for _, a := range apims.Items {
		st["apimanager:"+a.GetName()] = sum(fmt.Sprint(a.Object["spec"]))
	}
	for kind, gvr := range map[string]schema.GroupVersionResource{"deploymentconfig": gvrDC, "deployment": gvrDep} {
		l, err := kc.Dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %ss in %s: %w", kind, ns, err)
		}
		for _, o := range l.Items {
			r, _, _ := unstructuredInt(o.Object, "spec", "replicas")
			st[kind+":"+o.GetName()] = fmt.Sprintf("replicas=%d", r)
		}
	}
	return st, nil
}

func unstructuredInt(obj map[string]any, path ...string) (int64, bool, error) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false, nil
		}
		cur = m[p]
	}
	switch v := cur.(type) {
	case int64:
		return v, true, nil
	case float64:
		return int64(v), true, nil
	case int:
		return int64(v), true, nil
	}
	return 0, false, nil
}

func mapDigest(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d:%s\n", k, len(m[k]), m[k])
	}
	return fmt.Sprintf("keys=%s %s", strings.Join(keys, ","), sum(b.String()))
}
