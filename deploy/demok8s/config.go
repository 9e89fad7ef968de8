package demok8s

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// meshYAML is the demo's Istio configuration (mesh.yaml).
//
//go:embed mesh.yaml
var meshYAML []byte

// SplitName is the VirtualService splitting service-b 80/20.
const SplitName = "service-b-split"

// applyMesh creates every object of mesh.yaml in c (through its
// validating webhook, Isthmus) and returns their kinds and names.
func applyMesh(ctx context.Context, c *cloud) ([]string, error) {
	objects, err := decodeYAML(meshYAML)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, o := range objects {
		gvr := istioResource(o.GroupVersionKind())
		if _, err := c.Dynamic.Resource(gvr).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			return applied, fmt.Errorf("create %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		applied = append(applied, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
	}
	return applied, nil
}

// deleteSplit removes the 80/20 VirtualService: service-b's traffic then
// goes to every endpoint of both clouds.
func deleteSplit(ctx context.Context, c *cloud) error {
	gvr := istioResource(schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "VirtualService"})
	if err := c.Dynamic.Resource(gvr).Namespace(BackendNamespace).Delete(ctx, SplitName, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete VirtualService %s: %w", SplitName, err)
	}
	return nil
}

// istioResource is the resource of an Istio kind: its plural, lower-case.
func istioResource(gvk schema.GroupVersionKind) schema.GroupVersionResource {
	plural := strings.ToLower(gvk.Kind) + "s"
	if base, ok := strings.CutSuffix(plural, "cys"); ok { // AuthorizationPolicy
		plural = base + "cies"
	}
	return gvk.GroupVersion().WithResource(plural)
}

// decodeYAML reads every document of a multi-document YAML stream.
func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := reader.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("mesh.yaml: %w", err)
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}
