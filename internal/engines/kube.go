package engines

import (
	"context"

	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
	"github.com/3scale-ops/3scale-ops/internal/storage"
)

// StoragePods is system-storage's pod mode over Kubernetes exec (nil
// without a cluster: the engine then says pod mode needs Kubernetes).
func StoragePods(kc *kube.Clients, namespace string) storage.PodFinder {
	if kc == nil {
		return nil
	}
	return func(ctx context.Context, workload, container string) (storage.Pod, error) {
		return kc.WorkloadExec(ctx, namespace, workload, container)
	}
}

func init() {
	for _, name := range kubeobjects.Components {
		name := name
		kubeBuilders[name] = func(kc *kube.Clients, ns string, o Options) (Engine, error) {
			ko := kubeobjects.Options{Logger: o.Logger}
			switch name {
			case kubeobjects.Secrets:
				ko.SecretKeys = o.SecretKeys
			case kubeobjects.APIManager:
				ko.Transform = o.APIManagerTransform
			}
			return kubeobjects.New(kc, ns, name, ko)
		}
	}
}
