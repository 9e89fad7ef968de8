package inject

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/deploy/iptables"
)

// AnnotationProxyConfig overrides the mesh's proxy configuration for one
// pod (istio.io/api mesh.v1alpha1.ProxyConfig as YAML or JSON).
const AnnotationProxyConfig = "proxy.istio.io/config"

// podConfig is what the pod's own annotations and metadata decide.
type podConfig struct {
	proxy    *meshv1alpha1.ProxyConfig // merged with the discovery address
	capture  iptables.Options
	workload workload
}

func readPodConfig(pod *corev1.Pod, cfg Config) (podConfig, error) {
	var pc podConfig
	proxy, err := proxyConfig(pod.Annotations[AnnotationProxyConfig])
	if err != nil {
		return pc, err
	}
	proxy.DiscoveryAddress = cfg.DiscoveryAddress
	if pc.capture, err = iptables.FromAnnotations(pod.Annotations); err != nil {
		return pc, err
	}
	pc.proxy, pc.workload = proxy, workloadOf(pod)
	return pc, nil
}

// proxyConfig reads the proxy.istio.io/config annotation; unknown fields
// are an error naming the annotation.
func proxyConfig(annotation string) (*meshv1alpha1.ProxyConfig, error) {
	pc := &meshv1alpha1.ProxyConfig{}
	if strings.TrimSpace(annotation) == "" {
		return pc, nil
	}
	js, err := yaml.YAMLToJSON([]byte(annotation))
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationProxyConfig, err)
	}
	if err := protojson.Unmarshal(js, pc); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationProxyConfig, err)
	}
	return pc, nil
}

// proxyConfigJSON is pc as compact JSON with sorted keys, stable from run
// to run (protojson's own spacing is not).
func proxyConfigJSON(pc *meshv1alpha1.ProxyConfig) string {
	js, err := protojson.Marshal(pc)
	if err != nil {
		return "{}"
	}
	var v any
	if json.Unmarshal(js, &v) != nil {
		return "{}"
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// proxyMetadataEnv is ProxyConfig.proxyMetadata as environment variables,
// sorted by name.
func proxyMetadataEnv(pc *meshv1alpha1.ProxyConfig) []corev1.EnvVar {
	var env []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(pc.GetProxyMetadata())) {
		env = append(env, corev1.EnvVar{Name: k, Value: pc.GetProxyMetadata()[k]})
	}
	return env
}

// holdApplication reports holdApplicationUntilProxyStarts.
func holdApplication(pc *meshv1alpha1.ProxyConfig) bool {
	return pc.GetHoldApplicationUntilProxyStarts().GetValue()
}
