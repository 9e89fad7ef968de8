package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics and that every result is
// well-formed: objects have a key and a spec, errors name their source. The
// decoded objects also go through Validate and CheckReferences, which must
// not panic either.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec: {hosts: [a], http: [{route: [{destination: {host: a}, weight: 100}]}]}\n"))
	f.Add([]byte("---\n---\napiVersion: v1\nkind: List\nitems: [{apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: x}}]\n"))
	f.Add([]byte("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: a, labels: {a: 1}}\nspec: {egress: [{hosts: [\"./*\"], port: {number: \"x\"}}]}\n"))
	f.Add([]byte(": : :\n--- # c\n- [a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, errs := Decode("fuzz.yaml", data)
		for _, o := range objs {
			if o.Name == "" || o.Namespace == "" || o.Spec == nil || o.Source.Doc < 1 {
				t.Fatalf("malformed object %+v", o)
			}
		}
		for _, o := range objs {
			errs = append(errs, Validate(o)...)
		}
		errs = append(errs, CheckReferences(objs)...)
		for _, e := range errs {
			if e == nil || e.Source.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("malformed error %+v", e)
			}
			if strings.HasPrefix(e.Msg, panicMsg) {
				t.Fatalf("decoding panicked: %v", e)
			}
		}
	})
}
