package policy

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	telemetry "istio.io/api/telemetry/v1alpha1"
)

func TestDecodeEveryKindAndVersion(t *testing.T) {
	want := map[Kind]proto.Message{
		KindVirtualService:        &networking.VirtualService{},
		KindDestinationRule:       &networking.DestinationRule{},
		KindGateway:               &networking.Gateway{},
		KindServiceEntry:          &networking.ServiceEntry{},
		KindWorkloadEntry:         &networking.WorkloadEntry{},
		KindSidecar:               &networking.Sidecar{},
		KindPeerAuthentication:    &security.PeerAuthentication{},
		KindAuthorizationPolicy:   &security.AuthorizationPolicy{},
		KindRequestAuthentication: &security.RequestAuthentication{},
		KindTelemetry:             &telemetry.Telemetry{},
	}
	versions := map[Kind][]string{
		KindVirtualService:        {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
		KindDestinationRule:       {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
		KindGateway:               {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
		KindServiceEntry:          {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
		KindWorkloadEntry:         {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
		KindSidecar:               {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
		KindPeerAuthentication:    {"security.istio.io/v1", "security.istio.io/v1beta1"},
		KindAuthorizationPolicy:   {"security.istio.io/v1", "security.istio.io/v1beta1"},
		KindRequestAuthentication: {"security.istio.io/v1", "security.istio.io/v1beta1"},
		KindTelemetry:             {"telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1"},
	}
	for kind, apiVersions := range versions {
		for _, apiVersion := range apiVersions {
			t.Run(string(kind)+"@"+apiVersion, func(t *testing.T) {
				doc := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: x\n  namespace: ns\n  labels: {app: a}\n  annotations: {note: hi}\n", apiVersion, kind)
				objs, errs := Decode("f.yaml", []byte(doc))
				if len(errs) != 0 || len(objs) != 1 {
					t.Fatalf("Decode = %v, %v", objs, errs)
				}
				o := objs[0]
				if o.Key != (Key{Kind: kind, Namespace: "ns", Name: "x"}) || o.APIVersion != apiVersion {
					t.Errorf("key %v apiVersion %s", o.Key, o.APIVersion)
				}
				if o.Labels["app"] != "a" || o.Annotations["note"] != "hi" {
					t.Errorf("labels %v annotations %v", o.Labels, o.Annotations)
				}
				if o.Spec.ProtoReflect().Descriptor() != want[kind].ProtoReflect().Descriptor() {
					t.Errorf("spec type %T", o.Spec)
				}
				if o.Source != (Source{File: "f.yaml", Doc: 1}) {
					t.Errorf("source %v", o.Source)
				}
			})
		}
	}
	if len(APIVersions(KindSidecar)) != 3 || APIVersions("Deployment") != nil {
		t.Errorf("APIVersions disagrees with the table")
	}
}

func TestDecodeSpecFields(t *testing.T) {
	doc := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - timeout: 2.5s
    route:
    - destination: {host: reviews, subset: v1, port: {number: 9080}}
      weight: 75
    - destination: {host: reviews, subset: v2}
      weight: 25
`
	objs, errs := Decode("vs.yaml", []byte(doc))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	vs := objs[0].Spec.(*networking.VirtualService)
	if objs[0].Namespace != DefaultNamespace {
		t.Errorf("namespace = %q, want default", objs[0].Namespace)
	}
	r := vs.GetHttp()[0]
	if r.GetTimeout().AsDuration().Milliseconds() != 2500 || r.GetRoute()[0].GetWeight() != 75 ||
		r.GetRoute()[0].GetDestination().GetPort().GetNumber() != 9080 || r.GetRoute()[1].GetDestination().GetSubset() != "v2" {
		t.Errorf("spec decoded wrongly: %v", vs)
	}
}

func TestDecodeErrors(t *testing.T) {
	const vsHead = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a, namespace: ns}\n"
	cases := []struct {
		name, doc string
		key       Key
		field     string
		msg       string
	}{
		{"unknown spec field", vsHead + "spec: {hosts: [a], http: [{route: [{destination: {host: a, bogus: 1}}]}]}\n",
			Key{KindVirtualService, "ns", "a"}, "spec.http[0].route[0].destination.bogus", "unknown field"},
		{"wrong value type", vsHead + "spec: {hosts: [a], http: [{route: [{destination: {host: a}, weight: heavy}]}]}\n",
			Key{KindVirtualService, "ns", "a"}, "spec.http[0].route[0].weight", "int32"},
		{"bad duration", vsHead + "spec: {hosts: [a], http: [{timeout: 5x}]}\n",
			Key{KindVirtualService, "ns", "a"}, "spec.http[0].timeout", "Duration"},
		{"bad enum", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec: {mtls: {mode: STRONG}}\n",
			Key{KindPeerAuthentication, "default", "p"}, "spec.mtls.mode", "STRONG"},
		{"proto field name", vsHead + "spec: {hosts: [a], http: [{retries: {attempts: 1, per_try_timeout: 1s}}]}\n",
			Key{KindVirtualService, "ns", "a"}, "spec.http[0].retries.per_try_timeout", "unknown field"},
		{"unknown top-level field", vsHead + "specs: {}\n",
			Key{KindVirtualService, "ns", "a"}, "specs", "unknown field"},
		{"missing name", "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {namespace: x}\n",
			Key{KindGateway, "x", ""}, "metadata.name", "required"},
		{"unknown kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
			Key{"Deployment", "default", "d"}, "kind", "unknown kind Deployment"},
		{"version not served", "apiVersion: networking.istio.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\n",
			Key{KindGateway, "default", "g"}, "apiVersion", "not served"},
		{"group mismatch", "apiVersion: security.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n",
			Key{KindGateway, "default", "g"}, "apiVersion", "not served"},
		{"labels not strings", vsHead[:len(vsHead)-2] + ", labels: {v: 1}}\n",
			Key{KindVirtualService, "ns", "a"}, "metadata.labels", "number"},
		{"yaml syntax", "apiVersion: [\n", Key{}, "", "invalid YAML"},
		{"not a mapping", "- a\n- b\n", Key{}, "", "mapping"},
		{"no kind", "metadata: {name: a}\n", Key{}, "", "apiVersion and kind are required"},
		{"duplicate key", vsHead + "spec: {hosts: [a]}\nspec: {hosts: [b]}\n", Key{}, "", "invalid YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, errs := Decode("f.yaml", []byte(c.doc))
			if len(objs) != 0 || len(errs) != 1 {
				t.Fatalf("Decode = %v objects, errors %v", len(objs), errs)
			}
			e := errs[0]
			if e.Key != c.key || e.Field != c.field || !strings.Contains(e.Msg, c.msg) || e.Source != (Source{File: "f.yaml", Doc: 1}) {
				t.Errorf("error %q (key %v field %q), want key %v field %q msg containing %q", e, e.Key, e.Field, c.key, c.field, c.msg)
			}
		})
	}
}

func TestDecodeMultiDocument(t *testing.T) {
	data := `# leading comment
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: good1}
---
# only a comment
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bad}
spec: {servers: 3}
--- # trailing comment on the separator
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: ignored}
spec: {profile: default}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: good2}
`
	objs, errs := Decode("f.yaml", []byte(data))
	if len(objs) != 2 || objs[0].Name != "good1" || objs[1].Name != "good2" {
		t.Fatalf("objects %v", objs)
	}
	if objs[0].Source.Doc != 1 || objs[1].Source.Doc != 5 {
		t.Errorf("documents numbered %d and %d, want 1 and 5", objs[0].Source.Doc, objs[1].Source.Doc)
	}
	if len(errs) != 1 || errs[0].Key.Name != "bad" || errs[0].Source.Doc != 3 || errs[0].Field != "spec.servers" {
		t.Errorf("errors %v", errs)
	}
}

func TestDecodeList(t *testing.T) {
	data := `apiVersion: v1
kind: List
items:
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: one, namespace: istio-system}
  spec: {mtls: {mode: STRICT}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
- 42
- apiVersion: telemetry.istio.io/v1
  kind: Telemetry
  metadata: {name: two}
`
	objs, errs := Decode("list.yaml", []byte(data))
	if len(objs) != 2 || objs[0].Name != "one" || objs[1].Name != "two" {
		t.Errorf("objects %v", objs)
	}
	if len(errs) != 2 || errs[0].Key.Kind != "ConfigMap" || errs[1].Field != "items[2]" {
		t.Errorf("errors %v", errs)
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "---\n---\n", "# nothing\n", "null\n", "~\n"} {
		objs, errs := Decode("e.yaml", []byte(in))
		if len(objs) != 0 || len(errs) != 0 {
			t.Errorf("Decode(%q) = %v, %v; want nothing", in, objs, errs)
		}
	}
}

// TestDecodeGoDurations: Istio reads durations with Go's syntax ("1m30s",
// "24h"), not only protobuf's seconds form.
func TestDecodeGoDurations(t *testing.T) {
	doc := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - timeout: 1m30s
    retries: {attempts: 2, perTryTimeout: 250ms}
    corsPolicy: {maxAge: 24h}
    fault: {delay: {fixedDelay: 1.5s, percentage: {value: 1}}}
    route: [{destination: {host: r}}]
`
	objs, errs := Decode("vs.yaml", []byte(doc))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	r := objs[0].Spec.(*networking.VirtualService).GetHttp()[0]
	got := []string{r.GetTimeout().AsDuration().String(), r.GetRetries().GetPerTryTimeout().AsDuration().String(),
		r.GetCorsPolicy().GetMaxAge().AsDuration().String(), r.GetFault().GetDelay().GetFixedDelay().AsDuration().String()}
	want := []string{"1m30s", "250ms", "24h0m0s", "1.5s"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("duration %d = %s, want %s", i, got[i], want[i])
		}
	}
}

func TestDecodeOneofConflict(t *testing.T) {
	doc := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec: {hosts: [r], http: [{match: [{uri: {exact: /a, prefix: /b}}], route: [{destination: {host: r}}]}]}
`
	_, errs := Decode("vs.yaml", []byte(doc))
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Field, "spec.http[0].match[0].uri") {
		t.Errorf("errors %v, want one about spec.http[0].match[0].uri", errs)
	}
}
