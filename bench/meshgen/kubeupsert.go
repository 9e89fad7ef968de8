package meshgen

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeAPI is the part of a typed client-go resource interface upsert uses.
type kubeAPI[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// reconcile brings an existing object (have, a copy the caller may change)
// to what meshgen wants, and reports whether it changed anything. It fails
// when the difference is in a field the API server does not let change.
type reconcile[T metav1.Object] func(have T) (changed bool, err error)

// upsertAttempts bounds the retries when another writer creates or
// updates the same object between our read and our write.
const upsertAttempts = 5

// upsert creates want, or brings the existing object of its name to it
// with fix and updates it when fix changed it. It returns the object as
// stored.
func upsert[T metav1.Object](ctx context.Context, api kubeAPI[T], want T, fix reconcile[T]) (T, error) {
	var stored T
	var err error
	for range upsertAttempts {
		stored, err = upsertOnce(ctx, api, want, fix)
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	if err != nil {
		return stored, fmt.Errorf("apply %s/%s: %w", want.GetNamespace(), want.GetName(), err)
	}
	return stored, nil
}

func upsertOnce[T metav1.Object](ctx context.Context, api kubeAPI[T], want T, fix reconcile[T]) (T, error) {
	have, err := api.Get(ctx, want.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return api.Create(ctx, want, metav1.CreateOptions{})
	}
	if err != nil {
		return have, err
	}
	metaChanged := mergeMeta(have, want)
	changed, err := fix(have)
	if err != nil || !(changed || metaChanged) {
		return have, err
	}
	return api.Update(ctx, have, metav1.UpdateOptions{})
}

// mergeMeta adds want's labels and annotations to have (others' stay),
// reporting whether any was missing or different.
func mergeMeta(have, want metav1.Object) bool {
	labels, lc := mergeMap(have.GetLabels(), want.GetLabels())
	annotations, ac := mergeMap(have.GetAnnotations(), want.GetAnnotations())
	have.SetLabels(labels)
	have.SetAnnotations(annotations)
	return lc || ac
}

func mergeMap(have, want map[string]string) (map[string]string, bool) {
	changed := false
	for k, v := range want {
		if old, ok := have[k]; !ok || old != v {
			if have == nil {
				have = make(map[string]string, len(want))
			}
			have[k] = v
			changed = true
		}
	}
	return have, changed
}

// unchanged is the reconcile of objects whose metadata is all meshgen sets.
func unchanged[T metav1.Object](T) (bool, error) { return false, nil }

// ownedByMeshgen reports whether meshgen created the object.
func ownedByMeshgen(o metav1.Object) bool {
	_, ok := o.GetAnnotations()[OwnerAnnotation]
	return ok
}

// ignoreNotFound treats deleting what is already gone as success.
func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
