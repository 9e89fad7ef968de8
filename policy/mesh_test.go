package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadMeshConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mesh.yaml")
	os.WriteFile(good, []byte(`
enableTracing: true
defaultConfig:
  tracing: {sampling: 100}
extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
defaultProviders: {tracing: [zipkin]}
`), 0o644)
	mc, err := LoadMeshConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if p := mc.GetExtensionProviders(); len(p) != 1 || p[0].GetZipkin().GetPort() != 9411 || mc.GetDefaultConfig().GetTracing().GetSampling() != 100 {
		t.Errorf("decoded %v", mc)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("extensionProviders: [{name: z, zipkin: {servce: x}}]\n"), 0o644)
	if _, err := LoadMeshConfig(bad); err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "servce") {
		t.Errorf("LoadMeshConfig(bad) = %v, want an error naming the file and the field", err)
	}
}
