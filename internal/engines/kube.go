package engines

import (
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
)

func init() {
	for _, name := range kubeobjects.Components {
		name := name
		kubeBuilders[name] = func(kc *kube.Clients, ns string, o Options) (Engine, error) {
			return kubeobjects.New(kc, ns, name, kubeobjects.Options{Logger: o.Logger})
		}
	}
}
