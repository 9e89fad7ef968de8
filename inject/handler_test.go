package inject

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// namespaceMap is namespaces by name; a missing one is an error.
type namespaceMap map[string]map[string]string

func (m namespaceMap) Labels(_ context.Context, name string) (map[string]string, error) {
	labels, ok := m[name]
	if !ok {
		return nil, errors.New("namespaces \"" + name + "\" not found")
	}
	return labels, nil
}

// What the API server gets back for each kind of request: a JSON patch for
// a pod to inject, nothing for the others, and, failing open, the pod
// unchanged with a warning when the injector cannot do its work.
func TestHandlerAnswers(t *testing.T) {
	h, err := Handler(Options{
		Namespaces: namespaceMap{"mesh": {LabelInjection: "enabled"}, "plain": {}},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"%s},"spec":{"containers":[{"name":"web","image":"web"}]}}`
	cases := []struct {
		name, namespace, kind, object string
		wantPatch                     bool
		wantWarning                   string
	}{
		{"pod of an enabled namespace", "mesh", "Pod", fmtPod(pod, ""), true, ""},
		{"pod of a plain namespace", "plain", "Pod", fmtPod(pod, ""), false, ""},
		{"pod refusing injection", "mesh", "Pod", fmtPod(pod, `,"labels":{"sidecar.istio.io/inject":"false"}`), false, ""},
		{"bad proxy.istio.io/config", "mesh", "Pod", fmtPod(pod, `,"annotations":{"proxy.istio.io/config":"concurrency: many"}`), false, "proxy.istio.io/config"},
		{"bad excludeOutboundPorts", "mesh", "Pod", fmtPod(pod, `,"annotations":{"traffic.sidecar.istio.io/excludeOutboundPorts":"http"}`), false, "traffic.sidecar.istio.io/excludeOutboundPorts"},
		{"unknown namespace", "gone", "Pod", fmtPod(pod, ""), false, `namespace gone: namespaces "gone" not found`},
		{"not a pod", "mesh", "Service", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"}}`, false, ""},
		{"not JSON", "mesh", "Pod", `"web"`, false, "decoding the pod"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := postReview(t, srv.URL+Path, c.namespace, c.kind, c.object)
			if !resp.Allowed || resp.UID != "uid-1" {
				t.Fatalf("response %+v, want allowed for uid-1", resp)
			}
			if got := resp.Patch != nil && resp.PatchType != nil && *resp.PatchType == admissionv1.PatchTypeJSONPatch; got != c.wantPatch {
				t.Errorf("JSON patch given: %v, want %v (%s)", got, c.wantPatch, resp.Patch)
			}
			warnings := strings.Join(resp.Warnings, "; ")
			if (c.wantWarning == "") != (warnings == "") || !strings.Contains(warnings, c.wantWarning) {
				t.Errorf("warnings %q, want %q", warnings, c.wantWarning)
			}
		})
	}
}

func fmtPod(format, meta string) string { return strings.Replace(format, "%s", meta, 1) }

func postReview(t *testing.T, url, namespace, kind, object string) *admissionv1.AdmissionResponse {
	t.Helper()
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"uid-1","operation":"CREATE",
		"namespace":"` + namespace + `","kind":{"group":"","version":"v1","kind":"` + kind + `"},"object":` + object + `}}`
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
		t.Fatalf("HTTP %d, response %+v (%v)", resp.StatusCode, out.Response, err)
	}
	return out.Response
}

// A remote cluster's webhook posts to /inject/cluster/ID[/net/NET], as to
// istiod: its pods' agent, bootstrap and node metadata name that cluster
// (whose API server reviews their tokens) and network; /inject keeps
// Config's.
// A remote cluster's pod is decided by its own cluster's namespace labels.
func TestHandlerReadsARemoteClustersNamespaces(t *testing.T) {
	h, err := Handler(Options{
		Config:     Config{Mode: ModeIsthmus, ClusterID: "aws"},
		Namespaces: namespaceMap{"shop": {}},
		ClusterNamespaces: func(id string) (Namespaces, bool) {
			return namespaceMap{"shop": {LabelInjection: "enabled"}}, id == "gcp"
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"web"}]}}`
	if patch := postReview(t, srv.URL+Path+"/cluster/gcp", "shop", "Pod", pod).Patch; !strings.Contains(string(patch), "CLUSTER_ID=gcp") {
		t.Errorf("a pod of gcp's labelled namespace is not injected: %s", patch)
	}
	for _, path := range []string{Path, Path + "/cluster/azure"} {
		if patch := postReview(t, srv.URL+path, "shop", "Pod", pod).Patch; len(patch) != 0 {
			t.Errorf("POST %s: a pod of the config cluster's unlabelled namespace is injected: %s", path, patch)
		}
	}
}

func TestHandlerClusterPaths(t *testing.T) {
	h, err := Handler(Options{
		Config:     Config{Mode: ModeIsthmus, ClusterID: "aws", Network: "aws-net"},
		Namespaces: namespaceMap{"mesh": {LabelInjection: "enabled"}},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"web"}]}}`
	cases := []struct{ path, want, wantNetwork string }{
		{Path, "aws", "aws-net"},
		{Path + "/cluster/gcp", "gcp", "aws-net"},
		{Path + "/cluster/gcp/net/gcp-net", "gcp", "gcp-net"},
	}
	for _, c := range cases {
		patch := string(postReview(t, srv.URL+c.path, "mesh", "Pod", pod).Patch)
		for _, want := range []string{"--cluster-id=" + c.want, "CLUSTER_ID=" + c.want, "NETWORK=" + c.wantNetwork} {
			if !strings.Contains(patch, want) {
				t.Errorf("POST %s: the patch has no %q: %s", c.path, want, patch)
			}
		}
	}
}
