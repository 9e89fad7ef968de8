package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runMeshgen(args ...string) (int, string) {
	var out, errs bytes.Buffer
	code := run(args, &out, &errs)
	return code, out.String() + errs.String()
}

// A rerun with the same flags rewrites the mesh; other flags on a used
// directory are refused, so two meshes never mix.
func TestRerunWithTheSameFlagsIsAccepted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mesh")
	for range 2 {
		if code, out := runMeshgen("--out", dir, "--services", "3", "--namespaces", "2"); code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
	}
	code, out := runMeshgen("--out", dir, "--services", "4", "--namespaces", "2")
	if code != 1 || !strings.Contains(out, "not empty") {
		t.Errorf("other flags on a used directory: exit %d: %s", code, out)
	}
}

// Kubernetes mode applies before it writes: when the API server cannot be
// reached, no routing config without its services is left behind.
func TestKubernetesModeWritesNothingWhenTheClusterFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mesh")
	code, out := runMeshgen("--out", dir, "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
	if code != 1 || !strings.Contains(out, "kubeconfig") {
		t.Errorf("exit %d: %s", code, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s written after a failed apply (stat: %v)", dir, err)
	}
}

func TestIstioCRDsNeedAKubeconfig(t *testing.T) {
	if code, out := runMeshgen("--out", t.TempDir(), "--istio-crds"); code != 2 {
		t.Errorf("exit %d: %s", code, out)
	}
}
