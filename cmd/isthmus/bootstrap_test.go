package main

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const testNodeID = "sidecar~10.0.0.1~productpage-v1-abc.default~default.svc.cluster.local"

// printedBootstrap runs `isthmus bootstrap` and decodes the YAML it prints.
func printedBootstrap(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"bootstrap"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var out map[string]any
	if err := yaml.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, stdout.String())
	}
	return out
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	return v
}

func TestBootstrapMetaFlags(t *testing.T) {
	out := printedBootstrap(t, "--xds-address", "127.0.0.1:15010", "--node-id", testNodeID,
		"--meta", `LABELS={"app":"productpage","version":"v1"}`,
		"--meta", "SERVICE_ACCOUNT=bookinfo-productpage",
		"--meta", "NOTE={not json",
		"--meta", "EQUALS=a=b",
		"--meta", "NAMESPACE=shop")
	md, _ := field(out, "node", "metadata").(map[string]any)
	labels, ok := md["LABELS"].(map[string]any)
	if !ok || labels["app"] != "productpage" || labels["version"] != "v1" {
		t.Errorf("LABELS = %#v, want a struct {app: productpage, version: v1}", md["LABELS"])
	}
	want := map[string]string{"SERVICE_ACCOUNT": "bookinfo-productpage", "NOTE": "{not json", "EQUALS": "a=b", "NAMESPACE": "shop"}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %#v, want the string %q", k, md[k], v)
		}
	}
	if got := field(out, "node", "cluster"); got != "productpage.shop" {
		t.Errorf("node.cluster = %v, want productpage.shop", got)
	}
}

func TestBootstrapDefaultsAndDelta(t *testing.T) {
	sotw := printedBootstrap(t, "--xds-address", "127.0.0.1:15010", "--node-id", testNodeID)
	if got := field(sotw, "dynamic_resources", "ads_config", "api_type"); got != "GRPC" {
		t.Errorf("api_type = %v, want GRPC", got)
	}
	if got := field(sotw, "node", "metadata", "NAMESPACE"); got != "default" {
		t.Errorf("NAMESPACE = %v, want default (from the node id)", got)
	}
	if got := field(sotw, "admin", "address", "socket_address", "port_value"); got != float64(15000) {
		t.Errorf("admin port = %v, want 15000", got)
	}
	delta := printedBootstrap(t, "--xds-address", "127.0.0.1:15010", "--node-id", testNodeID, "--delta", "--admin-address", "127.0.0.2:19000")
	if got := field(delta, "dynamic_resources", "ads_config", "api_type"); got != "DELTA_GRPC" {
		t.Errorf("api_type = %v, want DELTA_GRPC", got)
	}
	if got := field(delta, "admin", "address", "socket_address", "address"); got != "127.0.0.2" {
		t.Errorf("admin address = %v, want 127.0.0.2", got)
	}
}

func TestBootstrapErrorsNameTheFlag(t *testing.T) {
	cases := map[string]struct {
		args    []string
		mention string
	}{
		"missing xds address": {[]string{"--node-id", testNodeID}, "--xds-address"},
		"missing node id":     {[]string{"--xds-address", "127.0.0.1:15010"}, "--node-id"},
		"bad node id":         {[]string{"--xds-address", "127.0.0.1:15010", "--node-id", "sidecar~1.2.3.4"}, "--node-id"},
		"bad xds address":     {[]string{"--xds-address", "127.0.0.1", "--node-id", testNodeID}, "--xds-address"},
		"bad admin address":   {[]string{"--xds-address", "127.0.0.1:1", "--node-id", testNodeID, "--admin-address", "admin:1"}, "--admin-address"},
		"meta without =":      {[]string{"--xds-address", "127.0.0.1:1", "--node-id", testNodeID, "--meta", "LABELS"}, "-meta"},
		"meta without key":    {[]string{"--xds-address", "127.0.0.1:1", "--node-id", testNodeID, "--meta", "=x"}, "-meta"},
		"stray argument":      {[]string{"--xds-address", "127.0.0.1:1", "--node-id", testNodeID, "extra"}, "extra"},
	}
	for name, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"bootstrap"}, tc.args...), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.mention) || stdout.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %q; want exit 2, no output, stderr naming %s", name, code, stdout.Len(), stderr.String(), tc.mention)
		}
	}
}

func TestBootstrapHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bootstrap", "--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "-xds-address") {
		t.Errorf("--help: exit %d, stdout %q; want 0 and the flag list", code, stdout.String())
	}
}
