package bootstrap

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// YAML renders the bootstrap for o as YAML with proto field names.
func YAML(o Options) ([]byte, error) {
	b, err := Generate(o)
	if err != nil {
		return nil, err
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("bootstrap to JSON: %w", err)
	}
	out, err := yaml.JSONToYAML(js)
	if err != nil {
		return nil, fmt.Errorf("bootstrap to YAML: %w", err)
	}
	return out, nil
}
