package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// review posts an AdmissionReview for object (JSON) to the handler and
// returns the HTTP status and the decoded response.
func review(t *testing.T, operation, group, version, kind, object string) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
		"uid":"u-1","kind":{"group":"` + group + `","version":"` + version + `","kind":"` + kind + `"},
		"resource":{"group":"` + group + `","version":"` + version + `","resource":"things"},
		"namespace":"shop","name":"reviews","operation":"` + operation + `","userInfo":{"username":"alice"}`
	if object != "" {
		body += `,"object":` + object
	}
	body += `}}`
	return post(t, body)
}

func post(t *testing.T, body string) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	Handler(Options{MaxBodyBytes: 1 << 16}).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec.Code, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response %q: %v", rec.Body, err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil || out.Response.UID != "u-1" {
		t.Fatalf("response %s: want a v1 AdmissionReview answering uid u-1", rec.Body)
	}
	return rec.Code, out.Response
}

const validVS = `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService",
	"metadata":{"name":"reviews","namespace":"shop","uid":"x","resourceVersion":"1","creationTimestamp":"2026-01-01T00:00:00Z",
		"managedFields":[{"manager":"kubectl","operation":"Update"}]},
	"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"}}]}]}}`

const invalidRegexVS = `{"apiVersion":"networking.istio.io/v1alpha3","kind":"VirtualService","metadata":{"name":"reviews","namespace":"shop"},
	"spec":{"hosts":["reviews"],"http":[{"match":[{"uri":{"regex":"(["}}],"route":[{"destination":{"host":"reviews"}}]}]}}`

func TestValidObjectAllowed(t *testing.T) {
	for _, version := range []string{"v1", "v1beta1", "v1alpha3"} {
		obj := strings.Replace(validVS, "networking.istio.io/v1", "networking.istio.io/"+version, 1)
		code, resp := review(t, "CREATE", "networking.istio.io", version, "VirtualService", obj)
		if code != http.StatusOK || !resp.Allowed || resp.Result != nil {
			t.Errorf("%s: code %d response %+v, want allowed", version, code, resp)
		}
	}
}

func TestInvalidRegexRefusedWithField(t *testing.T) {
	code, resp := review(t, "UPDATE", "networking.istio.io", "v1alpha3", "VirtualService", invalidRegexVS)
	if code != http.StatusOK || resp.Allowed || resp.Result == nil {
		t.Fatalf("code %d response %+v, want refused", code, resp)
	}
	st := resp.Result
	if st.Reason != metav1.StatusReasonInvalid || st.Code != http.StatusUnprocessableEntity || st.Status != metav1.StatusFailure {
		t.Errorf("status %+v, want Failure, Invalid, 422", st)
	}
	for _, want := range []string{"VirtualService shop/reviews", "spec.http[0].match[0].uri.regex", "regex"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message %q does not name %q", st.Message, want)
		}
	}
	if st.Details == nil || st.Details.Kind != "VirtualService" || st.Details.Name != "reviews" || len(st.Details.Causes) == 0 ||
		st.Details.Causes[0].Field != "spec.http[0].match[0].uri.regex" {
		t.Errorf("details %+v, want the kind, name and field", st.Details)
	}
}

func TestDecodeErrorsRefused(t *testing.T) {
	// An unknown field, which a CRD schema with preserveUnknownFields would
	// let through, is refused as a file's document would be.
	obj := `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"name":"p","namespace":"shop"},"spec":{"mtls":{"mode":"STRICT"},"bogus":1}}`
	_, resp := review(t, "CREATE", "security.istio.io", "v1", "PeerAuthentication", obj)
	if resp.Allowed || !strings.Contains(resp.Result.Message, "PeerAuthentication shop/p: spec.bogus") {
		t.Fatalf("response %+v, want refused naming spec.bogus", resp)
	}
	// Invalid at the validation stage, for a security and a telemetry kind.
	obj = `{"apiVersion":"security.istio.io/v1beta1","kind":"AuthorizationPolicy","metadata":{"name":"a"},"spec":{"action":"DENY"}}`
	if _, resp := review(t, "CREATE", "security.istio.io", "v1beta1", "AuthorizationPolicy", obj); resp.Allowed ||
		!strings.Contains(resp.Result.Message, "AuthorizationPolicy shop/a") {
		t.Fatalf("response %+v, want refused naming shop/a (namespace from the request)", resp)
	}
}

func TestOtherRequestsAllowed(t *testing.T) {
	cases := []struct{ name, op, group, version, kind, obj string }{
		{"unknown kind", "CREATE", "apps", "v1", "Deployment", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"whatever":true}}`},
		{"Istio kind Isthmus does not read", "CREATE", "networking.istio.io", "v1", "EnvoyFilter", `{"apiVersion":"networking.istio.io/v1","kind":"EnvoyFilter","metadata":{"name":"e"},"spec":{"junk":1}}`},
		{"same kind name, other group", "CREATE", "example.com", "v1", "VirtualService", invalidRegexVS},
		{"delete", "DELETE", "networking.istio.io", "v1alpha3", "VirtualService", ""},
		{"delete with old object", "DELETE", "networking.istio.io", "v1alpha3", "VirtualService", invalidRegexVS},
	}
	for _, c := range cases {
		code, resp := review(t, c.op, c.group, c.version, c.kind, c.obj)
		if code != http.StatusOK || !resp.Allowed {
			t.Errorf("%s: code %d response %+v, want allowed", c.name, code, resp)
		}
	}
	_, resp := review(t, "CREATE", "networking.istio.io", "v2", "VirtualService", invalidRegexVS)
	if !resp.Allowed || len(resp.Warnings) != 1 {
		t.Errorf("unknown version: response %+v, want allowed with a warning", resp)
	}
}

func TestBadRequests(t *testing.T) {
	for name, body := range map[string]string{
		"garbage":       "\x00not json{",
		"empty":         "",
		"no request":    `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		"other kind":    `{"apiVersion":"v1","kind":"Pod","request":{"uid":"1"}}`,
		"wrong types":   `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}`,
		"json array":    `[1,2,3]`,
		"truncated obj": `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","object":{"a":`,
	} {
		if code, _ := post(t, body); code != http.StatusBadRequest {
			t.Errorf("%s: code %d, want 400", name, code)
		}
	}
	// An object that is not an object is refused, not a crash.
	code, resp := review(t, "CREATE", "networking.istio.io", "v1", "VirtualService", `"a string"`)
	if code != http.StatusOK || resp.Allowed {
		t.Errorf("string object: code %d response %+v, want refused", code, resp)
	}

	h := Handler(Options{MaxBodyBytes: 1024})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(make([]byte, 4096))))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: code %d, want 413", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: code %d, want 405", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/other", strings.NewReader("{}")))
	if rec.Code != http.StatusNotFound {
		t.Errorf("other path: code %d, want 404", rec.Code)
	}
}

func TestV1beta1ReviewAnsweredInKind(t *testing.T) {
	rec := httptest.NewRecorder()
	body := `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"9","kind":{"group":"networking.istio.io","version":"v1alpha3","kind":"VirtualService"},"operation":"CREATE","object":` + invalidRegexVS + `}}`
	Handler(Options{}).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body)))
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.APIVersion != "admission.k8s.io/v1beta1" || out.Response.Allowed {
		t.Fatalf("response %s (%v), want a refusing v1beta1 review", rec.Body, err)
	}
}

func FuzzReview(f *testing.F) {
	f.Add([]byte(validVS))
	f.Add([]byte(invalidRegexVS))
	f.Add([]byte(`{"metadata":[]}`))
	f.Fuzz(func(t *testing.T, obj []byte) {
		req := &admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Create, Namespace: "shop",
			Kind: metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}}
		req.Object.Raw = obj
		if resp := Review(req); resp.UID != "1" || (!resp.Allowed && resp.Result == nil) {
			t.Fatalf("response %+v", resp)
		}
	})
}
