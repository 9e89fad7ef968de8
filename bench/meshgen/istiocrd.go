package meshgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// IstioResource is the API resource of an Istio kind (DestinationRule →
// destinationrules, ServiceEntry → serviceentries).
func IstioResource(gvk schema.GroupVersionKind) schema.GroupVersionResource {
	kind := strings.ToLower(gvk.Kind)
	if stem, ok := strings.CutSuffix(kind, "y"); ok {
		return gvk.GroupVersion().WithResource(stem + "ies")
	}
	return gvk.GroupVersion().WithResource(kind + "s")
}

// IstioObjects decodes generated Istio YAML (Service.YAML, SidecarYAML,
// PeerAuthenticationYAML) into the objects kubectl apply would send.
func IstioObjects(data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("decode generated YAML: %w", err)
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("decode generated YAML: %w", err)
		}
		obj.SetAnnotations(map[string]string{OwnerAnnotation: "true"})
		out = append(out, obj)
	}
	return out, nil
}

// ApplyIstioYAML creates or updates every object of generated Istio YAML
// as a custom resource (KubeOptions.Istio must be set).
func (k *KubeMesh) ApplyIstioYAML(ctx context.Context, data []byte) error {
	return k.eachIstioObject(data, func(api dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
		return applyUnstructured(ctx, api, obj)
	})
}

// DeleteIstioYAML deletes every object of generated Istio YAML from the
// API server; objects already gone are skipped.
func (k *KubeMesh) DeleteIstioYAML(ctx context.Context, data []byte) error {
	return k.eachIstioObject(data, func(api dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
		return ignoreNotFound(api.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}))
	})
}

func (k *KubeMesh) eachIstioObject(data []byte, do func(dynamic.ResourceInterface, *unstructured.Unstructured) error) error {
	if k.opts.Istio == nil {
		return errors.New("istio config: KubeMesh has no dynamic client (KubeOptions.Istio)")
	}
	objs, err := IstioObjects(data)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		api := k.opts.Istio.Resource(IstioResource(obj.GroupVersionKind())).Namespace(obj.GetNamespace())
		if err := do(api, obj); err != nil {
			return fmt.Errorf("%s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}

// applyUnstructured creates obj, or replaces the spec, labels and
// annotations of the existing object of its name when they differ.
func applyUnstructured(ctx context.Context, api dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
	for range upsertAttempts {
		err := applyUnstructuredOnce(ctx, api, obj)
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return fmt.Errorf("still conflicting after %d attempts", upsertAttempts)
}

func applyUnstructuredOnce(ctx context.Context, api dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
	have, err := api.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, obj, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	metaChanged := mergeMeta(have, obj)
	if !metaChanged && reflect.DeepEqual(have.Object["spec"], obj.Object["spec"]) {
		return nil
	}
	have.Object["spec"] = obj.Object["spec"]
	_, err = api.Update(ctx, have, metav1.UpdateOptions{})
	return err
}
