package kubeharness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// crdResource is where CustomResourceDefinitions live.
var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// istioCRDsFile is the file of the istio.io/api module that holds every
// Istio CRD.
var istioCRDsFile = filepath.Join("kubernetes", "customresourcedefinitions.gen.yaml")

// ApplyIstioCRDs installs Istio's CRDs, from the istio.io/api module the
// main module requires, and waits until every one is Established.
func (c *Cluster) ApplyIstioCRDs(ctx context.Context) error {
	path, err := IstioCRDsPath()
	if err != nil {
		return err
	}
	return c.ApplyCRDs(ctx, path)
}

// IstioCRDsPath is the CRD file of the istio.io/api module the enclosing
// Go module requires (the go command must be on PATH and the working
// directory inside the module, as under `go test`).
func IstioCRDsPath() (string, error) {
	dir, err := goOutput("list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	if err == nil && dir == "" { // required but not downloaded yet
		dir, err = moduleDownloadDir("istio.io/api")
	}
	if err != nil {
		return "", fmt.Errorf("istio.io/api module: %w", err)
	}
	return filepath.Join(dir, istioCRDsFile), nil
}

// ApplyCRDs creates or updates (server-side apply) every
// CustomResourceDefinition of the YAML file at path, then waits until all
// are Established.
func (c *Cluster) ApplyCRDs(ctx context.Context, path string) error {
	crds, err := readCRDs(path)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		_, err := c.Dynamic.Resource(crdResource).Apply(ctx, crd.GetName(), crd,
			metav1.ApplyOptions{FieldManager: "kubeharness", Force: true})
		if err != nil {
			return fmt.Errorf("apply CRD %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		if err := c.waitEstablished(ctx, crd.GetName()); err != nil {
			return err
		}
	}
	return nil
}

// readCRDs decodes the CustomResourceDefinitions of a multi-document YAML
// file; any other kind is an error.
func readCRDs(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CRDs: %w", err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var crds []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return crds, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		obj, err := decodeObject(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, len(crds)+1, err)
		}
		if obj == nil {
			continue
		}
		if obj.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("%s: %s %s is not a CustomResourceDefinition", path, obj.GetKind(), obj.GetName())
		}
		crds = append(crds, obj)
	}
}

// decodeObject decodes one YAML document; an empty one is nil.
func decodeObject(doc []byte) (*unstructured.Unstructured, error) {
	data, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, nil
	}
	return &unstructured.Unstructured{Object: fields}, nil
}

// waitEstablished waits until the CRD's Established condition is True.
func (c *Cluster) waitEstablished(ctx context.Context, name string) error {
	err := poll(ctx, c.failed, func(ctx context.Context) error {
		crd, err := c.Dynamic.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, cond := range conditions {
			m, _ := cond.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errors.New("not Established yet")
	})
	if err != nil {
		return fmt.Errorf("CRD %s: %w", name, err)
	}
	return nil
}

// moduleDownloadDir downloads module (at the version the enclosing module
// requires) and returns its directory.
func moduleDownloadDir(module string) (string, error) {
	out, err := goOutput("mod", "download", "-json", module)
	if err != nil {
		return "", err
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return "", fmt.Errorf("go mod download: %w", err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", module, info.Error)
	}
	return info.Dir, nil
}

// goOutput runs the go command and returns its trimmed standard output.
func goOutput(args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
