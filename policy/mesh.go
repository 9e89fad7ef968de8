package policy

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"sigs.k8s.io/yaml"
)

// LoadMeshConfig reads Istio's mesh configuration (the "mesh" file of
// istiod's ConfigMap, the meshConfig of an IstioOperator) from path. Unknown
// fields are errors naming the file.
func LoadMeshConfig(path string) (*meshv1alpha1.MeshConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("mesh config %s: %w", path, err)
	}
	mc := &meshv1alpha1.MeshConfig{}
	if err := protojson.Unmarshal(js, mc); err != nil {
		return nil, fmt.Errorf("mesh config %s: %w", path, err)
	}
	return mc, nil
}
