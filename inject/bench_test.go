package inject

import (
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The cost of answering one pod creation (decode, decide, inject, patch)
// for each mode, on the goldens' Deployment pod.
func BenchmarkReview(b *testing.B) {
	for _, name := range []string{"istio-agent-deployment", "isthmus-deployment"} {
		b.Run(name, func(b *testing.B) {
			c := readCase(b, filepath.Join("testdata", name+".in.yaml"))
			raw, err := json.Marshal(&c.Pod)
			if err != nil {
				b.Fatal(err)
			}
			inj := &injector{opts: Options{Config: c.Config, Namespaces: namespaceMap{c.Namespace: {LabelInjection: "enabled"}},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
			req := &admissionv1.AdmissionRequest{UID: "u", Operation: admissionv1.Create, Namespace: c.Namespace,
				Object: runtime.RawExtension{Raw: raw}}
			req.Kind.Kind, req.Kind.Version = "Pod", "v1"
			b.ReportAllocs()
			for b.Loop() {
				if resp := inj.review(req); resp.Patch == nil {
					b.Fatalf("no patch: %+v", resp)
				}
			}
		})
	}
}
