package helm

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/policy"
)

// `helm lint --strict` passes on the staged chart for every value set of
// testdata, and with the CRDs on.
func TestLint(t *testing.T) {
	dir := stagedChart(t)
	sets := map[string]map[string]any{"crds": {"crds": map[string]any{"install": true}}}
	cases, _ := filepath.Glob("testdata/*.values.yaml")
	for _, path := range cases {
		sets[filepath.Base(path)] = readValues(t, filepath.Base(path))
	}
	for name, values := range sets {
		lint := action.NewLint()
		lint.Strict = true
		lint.Namespace = testNamespace
		result := lint.Run([]string{dir}, values)
		if len(result.Errors) > 0 || result.TotalChartsLinted != 1 {
			t.Errorf("%s: helm lint --strict: %v (messages %v)", name, result.Errors, result.Messages)
		}
	}
}

// values.schema.json refuses, at install and template time, what the chart
// does not know, naming the value.
func TestSchemaRejectsBadValues(t *testing.T) {
	ch := loadChart(t, chartSource)
	cases := []struct {
		name   string
		values string
		want   []string
	}{
		{"unknown top-level key", "replicas: 3", []string{"additional properties 'replicas' not allowed"}},
		{"unknown nested key", "injection: {enable: true}", []string{"/injection", "additional properties 'enable' not allowed"}},
		{"unknown mesh config field", "meshConfig: {trustDomian: x}", []string{"/meshConfig", "additional properties 'trustDomian' not allowed"}},
		{"wrong type", "replicaCount: two", []string{"/replicaCount", "got string, want integer"}},
		{"wrong type nested", "validation: {enabled: \"yes\"}", []string{"/validation/enabled", "got string, want boolean"}},
		{"value out of its set", "injection: {mode: sidecar}", []string{"/injection/mode", "'istio-agent'", "'isthmus'"}},
		{"gateway without port", "networkGateways: [{network: n, address: gw.example}]", []string{"/networkGateways/0/address"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			values := map[string]any{}
			if err := yaml.Unmarshal([]byte(c.values), &values); err != nil {
				t.Fatal(err)
			}
			_, err := Render(ch, testRelease, testNamespace, values)
			if err == nil {
				t.Fatalf("values %q rendered", c.values)
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

// The schema's meshConfig names exactly the fields of Istio's MeshConfig
// (istio.io/api, as Isthmus parses it): a misspelt field is refused, and a
// field Istio adds shows up here.
func TestSchemaMeshConfigIsIstios(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartSource, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			MeshConfig struct {
				Properties map[string]any `json:"properties"`
			} `json:"meshConfig"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var inSchema, inIstio []string
	for name := range schema.Properties.MeshConfig.Properties {
		inSchema = append(inSchema, name)
	}
	fields := (&meshv1alpha1.MeshConfig{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		inIstio = append(inIstio, fields.Get(i).JSONName())
	}
	slices.Sort(inSchema)
	slices.Sort(inIstio)
	if !slices.Equal(inSchema, inIstio) {
		t.Errorf("meshConfig properties of values.schema.json:\n%v\nIstio's MeshConfig fields:\n%v", inSchema, inIstio)
	}
}

// Template-time checks the schema cannot express fail with a message
// saying what to do.
func TestRenderRefusesIncompleteValues(t *testing.T) {
	ch := loadChart(t, chartSource)
	cases := []struct {
		name, values, want string
	}{
		{"CRDs without a packaged chart", "crds: {install: true}", "package it with `make chart`"},
		{"remote cluster without credentials", "remoteClusters: [{clusterId: gcp, server: 'https://gcp:6443'}]", "remoteClusters[0] (gcp): give kubeconfig, or server and token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			values := map[string]any{}
			if err := yaml.Unmarshal([]byte(c.values), &values); err != nil {
				t.Fatal(err)
			}
			_, err := Render(ch, testRelease, testNamespace, values)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("values %q: want an error saying %q, got %v", c.values, c.want, err)
			}
		})
	}
}

// The staged chart renders every Istio CRD when crds.install is on.
func TestStagedChartRendersIstioCRDs(t *testing.T) {
	objects := renderObjects(t, stagedChart(t), map[string]any{"crds": map[string]any{"install": true}})
	var crds []string
	for _, o := range objects {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o.GetName())
		}
	}
	for _, want := range []string{"virtualservices.networking.istio.io", "peerauthentications.security.istio.io", "telemetries.telemetry.istio.io"} {
		if !slices.Contains(crds, want) {
			t.Errorf("CRD %s not rendered (got %v)", want, crds)
		}
	}
}

// The CA the chart generates, mounted as the Deployment mounts it, is one
// isthmus serve --ca-dir loads.
func TestGeneratedCALoadsInIsthmus(t *testing.T) {
	for _, trustDomain := range []string{"cluster.local", "mesh.example"} {
		values := map[string]any{"meshConfig": map[string]any{"trustDomain": trustDomain}}
		secret := findObject(t, renderObjects(t, chartSource, values), "Secret", "isthmus-ca")
		dir := t.TempDir()
		for _, file := range []string{certs.CACertFile, certs.CAKeyFile, certs.RootCertFile} {
			encoded, _, _ := unstructured.NestedString(secret.Object, "data", file)
			data, err := base64.StdEncoding.DecodeString(encoded)
			if err != nil || len(data) == 0 {
				t.Fatalf("Secret isthmus-ca: %s: %v", file, err)
			}
			if err := os.WriteFile(filepath.Join(dir, file), data, 0o440); err != nil {
				t.Fatal(err)
			}
		}
		ca, err := certs.LoadOrCreateCA(dir, trustDomain)
		if err != nil {
			t.Fatalf("trust domain %s: isthmus refuses the generated CA: %v", trustDomain, err)
		}
		if ca.TrustDomain() != trustDomain {
			t.Errorf("CA trust domain %q, want %q", ca.TrustDomain(), trustDomain)
		}
	}
}

// The mesh config and remote secrets the chart renders are read by
// Isthmus's own loaders: the tracing providers arrive, and each remote
// secret holds a self-contained kubeconfig under its cluster ID.
func TestRenderedConfigLoadsInIsthmus(t *testing.T) {
	objects := renderObjects(t, chartSource, readValues(t, "istiod-alias-cacerts-remotes-tracing.values.yaml"))
	mesh, _, _ := unstructured.NestedString(findObject(t, objects, "ConfigMap", "isthmus").Object, "data", "mesh")
	path := filepath.Join(t.TempDir(), "mesh")
	if err := os.WriteFile(path, []byte(mesh), 0o644); err != nil {
		t.Fatal(err)
	}
	mc, err := policy.LoadMeshConfig(path)
	if err != nil {
		t.Fatalf("isthmus refuses the rendered mesh config: %v\n%s", err, mesh)
	}
	if len(mc.GetExtensionProviders()) != 1 || mc.GetExtensionProviders()[0].GetName() != "otel" ||
		mc.GetDefaultProviders().GetTracing()[0] != "otel" || mc.GetTrustDomain() != "mesh.example" {
		t.Errorf("mesh config lost the tracing providers or trust domain: %v", mc)
	}
	for _, cluster := range []string{"gcp", "azure"} {
		secret := findObject(t, objects, "Secret", "istio-remote-secret-"+cluster)
		if secret.GetLabels()[kube.RemoteSecretLabel] != "true" {
			t.Errorf("remote secret of %s is not labelled %s=true", cluster, kube.RemoteSecretLabel)
		}
		kubeconfig, _, _ := unstructured.NestedString(secret.Object, "stringData", cluster)
		cfg, err := kube.RemoteConfig([]byte(kubeconfig))
		if err != nil {
			t.Fatalf("remote secret of %s: isthmus refuses its kubeconfig: %v\n%s", cluster, err, kubeconfig)
		}
		if !strings.HasPrefix(cfg.Host, "https://"+cluster+"-apiserver.example:6443") || cfg.BearerToken != cluster+"-token" {
			t.Errorf("remote secret of %s: server %s, token %q", cluster, cfg.Host, cfg.BearerToken)
		}
	}
}

// renderObjects renders the chart in dir and decodes every object.
func renderObjects(t *testing.T, dir string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	manifest, err := Render(loadChart(t, dir), testRelease, testNamespace, values)
	if err != nil {
		t.Fatal(err)
	}
	objects, err := decodeManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return objects
}

// decodeManifest decodes a multi-document manifest; empty documents are
// skipped.
func decodeManifest(manifest string) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var objects []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, err
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, err
		}
		if len(obj) > 0 && len(bytes.TrimSpace(doc)) > 0 {
			objects = append(objects, &unstructured.Unstructured{Object: obj})
		}
	}
}

func findObject(t *testing.T, objects []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

// The packaged chart carries the CRDs and the README, and its appVersion
// (the default image tag) is the one given.
func TestPackage(t *testing.T) {
	path, err := Package(stagedChart(t), t.TempDir(), "v1.2.3-4-gabcdef")
	if err != nil {
		t.Fatal(err)
	}
	ch := loadChart(t, path)
	if ch.Metadata.AppVersion != "v1.2.3-4-gabcdef" {
		t.Errorf("appVersion %q", ch.Metadata.AppVersion)
	}
	var files []string
	for _, f := range ch.Files {
		files = append(files, f.Name)
	}
	for _, want := range []string{CRDsFile, "README.md"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s not packaged (files: %v)", want, files)
		}
	}
	deployment := findObject(t, renderObjects(t, path, nil), "Deployment", "isthmus")
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	if image := containers[0].(map[string]any)["image"]; image != "isthmus.local/isthmus:v1.2.3-4-gabcdef" {
		t.Errorf("default image %v, want the make image ref isthmus.local/isthmus:v1.2.3-4-gabcdef", image)
	}
}
