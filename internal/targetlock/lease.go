package targetlock

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// LeaseName is the Lease that locks a namespace for a restore (distinct
// from any object that records a restore's progress).
const LeaseName = "3scale-ops-restore-target"

// HolderAnnotation carries the holder's description on the Lease.
const HolderAnnotation = "3scale-ops.3scale.net/holder"

// Lease locks a namespace with a coordination.k8s.io Lease. An expired
// Lease (not renewed within its duration) is taken over, with a warning:
// its holder stopped renewing it, so it is gone or cut off.
type Lease struct {
	Client    kubernetes.Interface
	Namespace string
	TTL       time.Duration // 0: DefaultTTL
	Warn      func(msg string)
	now       func() time.Time

	mu     sync.Mutex
	holder Holder
}

func (l *Lease) Name() string { return "namespace " + l.Namespace + " (Lease " + LeaseName + ")" }

func (l *Lease) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return DefaultTTL
}

func (l *Lease) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

func (l *Lease) breakHint() string {
	return fmt.Sprintf("wait for that restore to finish; if it is gone, its lock expires %s after its last renewal, or remove it now with `kubectl -n %s delete lease %s`",
		l.ttl(), l.Namespace, LeaseName)
}

func (l *Lease) spec(h Holder, acquired *metav1.MicroTime) coordv1.LeaseSpec {
	now := metav1.NewMicroTime(l.clock())
	secs := int32(l.ttl() / time.Second)
	id := h.ID
	if acquired == nil {
		acquired = &now
	}
	return coordv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &secs, AcquireTime: acquired, RenewTime: &now}
}

func (l *Lease) expired(s coordv1.LeaseSpec) bool {
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return true
	}
	return l.clock().After(s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second))
}

func (l *Lease) describe(obj *coordv1.Lease) string {
	if h, ok := parseHolder(obj.Annotations[HolderAnnotation]); ok {
		return h.String()
	}
	if obj.Spec.HolderIdentity != nil {
		return "holder " + *obj.Spec.HolderIdentity
	}
	return "an unknown holder"
}

func (l *Lease) Acquire(ctx context.Context, h Holder) error {
	leases := l.Client.CoordinationV1().Leases(l.Namespace)
	obj := &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LeaseName, Namespace: l.Namespace,
		Annotations: map[string]string{HolderAnnotation: h.marshal()},
		Labels:      map[string]string{"app.kubernetes.io/managed-by": "3scale-ops"}}, Spec: l.spec(h, nil)}
	_, err := leases.Create(ctx, obj, metav1.CreateOptions{})
	if err == nil {
		l.set(h)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Lease %s in namespace %s: %w", LeaseName, l.Namespace, err)
	}
	cur, err := leases.Get(ctx, LeaseName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read Lease %s in namespace %s: %w", LeaseName, l.Namespace, err)
	}
	prevHolder, _ := parseHolder(cur.Annotations[HolderAnnotation])
	if !l.expired(cur.Spec) && !prevHolder.gone() {
		return held(l.breakHint(), "namespace %s is locked by %s (Lease %s, renewed %s ago)",
			l.Namespace, l.describe(cur), LeaseName, l.clock().Sub(cur.Spec.RenewTime.Time).Round(time.Second))
	}
	prev := l.describe(cur)
	cur.Spec = l.spec(h, nil)
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	cur.Annotations[HolderAnnotation] = h.marshal()
	// The update carries the resourceVersion read: of two runs taking
	// over the same expired Lease, one gets a conflict.
	if _, err := leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return held(l.breakHint(), "namespace %s was locked by another restore at the same moment (Lease %s)", l.Namespace, LeaseName)
		}
		return fmt.Errorf("take over Lease %s in namespace %s: %w", LeaseName, l.Namespace, err)
	}
	if l.Warn != nil {
		l.Warn(fmt.Sprintf("took over the restore lock of namespace %s left by %s (expired, or its process is gone)", l.Namespace, prev))
	}
	l.set(h)
	return nil
}

func (l *Lease) set(h Holder) {
	l.mu.Lock()
	l.holder = h
	l.mu.Unlock()
}

func (l *Lease) mine(ctx context.Context) (*coordv1.Lease, error) {
	l.mu.Lock()
	h := l.holder
	l.mu.Unlock()
	cur, err := l.Client.CoordinationV1().Leases(l.Namespace).Get(ctx, LeaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("Lease %s in namespace %s was deleted: %w", LeaseName, l.Namespace, ErrLost)
	}
	if err != nil {
		return nil, err
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != h.ID {
		return nil, fmt.Errorf("Lease %s in namespace %s is now held by %s: %w", LeaseName, l.Namespace, l.describe(cur), ErrLost)
	}
	return cur, nil
}

func (l *Lease) Check(ctx context.Context) error {
	cur, err := l.mine(ctx)
	if err != nil {
		return err
	}
	now := metav1.NewMicroTime(l.clock())
	cur.Spec.RenewTime = &now
	_, err = l.Client.CoordinationV1().Leases(l.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

func (l *Lease) Release(ctx context.Context) error {
	cur, err := l.mine(ctx)
	if err != nil {
		return err
	}
	rv := cur.ResourceVersion
	err = l.Client.CoordinationV1().Leases(l.Namespace).Delete(ctx, LeaseName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
