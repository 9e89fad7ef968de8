package inject

import (
	"encoding/json"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
)

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Patch is the JSON patch turning pod into injected (Pod's result): one
// "add" per changed field (labels, annotations, init containers,
// containers, volumes), which sets the field whether it exists or not.
func Patch(pod, injected *corev1.Pod) ([]byte, error) {
	fields := []struct {
		path     string
		old, new any
	}{
		{"/metadata/labels", pod.Labels, injected.Labels},
		{"/metadata/annotations", pod.Annotations, injected.Annotations},
		{"/spec/initContainers", pod.Spec.InitContainers, injected.Spec.InitContainers},
		{"/spec/containers", pod.Spec.Containers, injected.Spec.Containers},
		{"/spec/volumes", pod.Spec.Volumes, injected.Spec.Volumes},
	}
	ops := []patchOp{}
	for _, f := range fields {
		if !reflect.DeepEqual(f.old, f.new) {
			ops = append(ops, patchOp{Op: "add", Path: f.path, Value: f.new})
		}
	}
	js, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("JSON patch of pod %s/%s: %w", injected.Namespace, podName(injected), err)
	}
	return js, nil
}
