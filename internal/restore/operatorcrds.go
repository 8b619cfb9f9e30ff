package restore

import (
	"context"
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/component"
	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/kube"
	"github.com/3scale-ops/3scale-ops/internal/kubeobjects"
	"github.com/3scale-ops/3scale-ops/internal/repo"
)

// CheckOperatorCRDs stops a restore of the apimanager component, before
// anything is written, when the target cluster does not serve the kinds
// its objects are (the APIManager and the capabilities.3scale.net kinds):
// the 3scale operator, which installs their CRDs, is not installed there.
// The error (exit 2) names the kinds and how to install the operator.
func CheckOperatorCRDs(ctx context.Context, kc *kube.Clients, r *repo.Repository, m *repo.Manifest) error {
	if kc == nil || m.Component(component.APIManager) == nil {
		return nil
	}
	src, err := r.Source(m, component.APIManager)
	if err != nil {
		return err
	}
	missing, err := kubeobjects.MissingKinds(ctx, kc, src, component.APIManager)
	if err != nil || len(missing) == 0 {
		return err
	}
	return errs.UsageError(OperatorInstallHint(m.ThreescaleVersion)+"; then run the restore again (or leave the objects out with --components); nothing was changed",
		"the target cluster does not serve %s: the CRDs of the 3scale operator are not installed, so the snapshot's APIManager cannot be created", strings.Join(missing, ", "))
}

// OperatorInstallHint says how to install the 3scale operator (for a
// snapshot of 3scale version, "" when unknown).
func OperatorInstallHint(version string) string {
	channel := "threescale-2.N (the snapshot's 3scale minor version)"
	if version != "" {
		channel = "threescale-" + version
	}
	return fmt.Sprintf("install the 3scale operator into the namespace first: from OperatorHub (an OLM Subscription to package 3scale-operator of catalog redhat-operators, channel %s, with an OperatorGroup targeting the namespace: `oc apply -f subscription.yaml`, see docs/runbook.md), or `oc apply -f` of the operator bundle's CRDs and deployment (github.com/3scale/3scale-operator, config/), and wait until `oc get crd apimanagers.apps.3scale.net` exists", channel)
}
