package webhook

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isthmus-mesh/isthmus/policy"
)

// Path is where the API server posts AdmissionReviews, as istiod's.
const Path = "/validate"

// DefaultMaxBodyBytes bounds an AdmissionReview (object and old object);
// etcd refuses objects over 1.5 MiB anyway.
const DefaultMaxBodyBytes = 8 << 20

// Timeouts of NewServer's server. The API server gives a webhook 10 s at
// most (timeoutSeconds).
const (
	ReadTimeout  = 10 * time.Second
	WriteTimeout = 10 * time.Second
	IdleTimeout  = 90 * time.Second
)

// Options configure Handler.
type Options struct {
	MaxBodyBytes int64        // default DefaultMaxBodyBytes
	Logger       *slog.Logger // default slog.Default()
}

// Handler serves Path (any other path is 404).
func Handler(opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle(Path, AdmissionHandler(Review, opts))
	return mux
}

// ReviewFunc decides one admission request.
type ReviewFunc func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse

// AdmissionHandler answers AdmissionReview POSTs with review's response,
// refusing bad requests as Handler does; the injection webhook (package
// inject) shares it.
func AdmissionHandler(review ReviewFunc, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &handler{opts: opts, review: review}
}

// NewServer is an http.Server for h with timeouts; tlsConfig may be nil for
// a server the caller wraps in TLS itself.
func NewServer(h http.Handler, tlsConfig *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: ReadTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

type handler struct {
	opts   Options
	review ReviewFunc
}

// The AdmissionReview versions served.
const (
	reviewV1      = "admission.k8s.io/v1"
	reviewV1beta1 = "admission.k8s.io/v1beta1"
)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("AdmissionReview over %d bytes", h.opts.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var in admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, "not an AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if in.Kind != "AdmissionReview" || (in.APIVersion != reviewV1 && in.APIVersion != reviewV1beta1) || in.Request == nil {
		http.Error(w, "want an admission.k8s.io/v1 AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	resp := h.review(in.Request)
	if !resp.Allowed && resp.Result != nil {
		h.opts.Logger.Info("admission refused", "kind", in.Request.Kind.Kind, "namespace", in.Request.Namespace,
			"name", in.Request.Name, "operation", in.Request.Operation, "user", in.Request.UserInfo.Username, "reason", resp.Result.Message)
	}
	out := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: in.APIVersion, Kind: "AdmissionReview"}, Response: resp}
	js, err := json.Marshal(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(js)
}

// Review decides one admission request.
func Review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Operation == admissionv1.Delete || req.Operation == admissionv1.Connect || len(req.Object.Raw) == 0 {
		return resp
	}
	kind := policy.Kind(req.Kind.Kind)
	versions := policy.APIVersions(kind)
	if !servedGroup(versions, req.Kind.Group) {
		return resp // not a kind Isthmus reads
	}
	if apiVersion := req.Kind.Group + "/" + req.Kind.Version; !slices.Contains(versions, apiVersion) {
		resp.Warnings = []string{fmt.Sprintf("Isthmus does not read %s %s (it reads %s); not validated", apiVersion, kind, strings.Join(versions, ", "))}
		return resp
	}
	objs, problems := policy.Decode("admission", withRequestMeta(req.Object.Raw, req.Namespace, req.Name))
	for _, o := range objs {
		problems = append(problems, policy.Validate(o)...)
	}
	if len(problems) == 0 {
		return resp
	}
	resp.Allowed = false
	resp.Result = refusal(req, problems)
	return resp
}

// refusal is the Status of an invalid object: reason Invalid, a message
// naming each problem's object and field, and one cause per problem.
func refusal(req *admissionv1.AdmissionRequest, problems []*policy.ConfigError) *metav1.Status {
	msgs := make([]string, len(problems))
	causes := make([]metav1.StatusCause, len(problems))
	for i, p := range problems {
		msgs[i] = describe(p)
		causes[i] = metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: p.Field, Message: p.Msg}
	}
	name := req.Name
	if len(problems) > 0 && problems[0].Key.Name != "" {
		name = problems[0].Key.Name
	}
	return &metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnprocessableEntity,
		Reason:  metav1.StatusReasonInvalid,
		Message: "configuration is invalid: " + strings.Join(msgs, "; "),
		Details: &metav1.StatusDetails{Name: name, Group: req.Kind.Group, Kind: req.Kind.Kind, Causes: causes},
	}
}

// describe is a problem without its source (the request is the source):
// "VirtualService shop/reviews: spec.http[0].match[0].uri.regex: ...".
func describe(p *policy.ConfigError) string {
	var b strings.Builder
	if p.Key.Kind != "" {
		b.WriteString(p.Key.String() + ": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// withRequestMeta fills an object's metadata.namespace (and name) from the
// request when the object lacks them, so that problems name the object
// where it lands; raw is returned unchanged otherwise or when it is not a
// JSON object (the decoder then reports why).
func withRequestMeta(raw []byte, namespace, name string) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return raw
	}
	var meta map[string]json.RawMessage
	if m, ok := top["metadata"]; ok && json.Unmarshal(m, &meta) != nil {
		return raw
	}
	if meta == nil {
		meta = map[string]json.RawMessage{}
	}
	changed := false
	for field, value := range map[string]string{"namespace": namespace, "name": name} {
		if value == "" {
			continue
		}
		var cur string
		if v, ok := meta[field]; ok && (json.Unmarshal(v, &cur) != nil || cur != "") {
			continue
		}
		meta[field], _ = json.Marshal(value)
		changed = true
	}
	if !changed {
		return raw
	}
	top["metadata"], _ = json.Marshal(meta)
	out, err := json.Marshal(top)
	if err != nil {
		return raw
	}
	return out
}

// servedGroup reports whether one of versions ("group/version") is of group.
func servedGroup(versions []string, group string) bool {
	return slices.ContainsFunc(versions, func(v string) bool { return strings.HasPrefix(v, group+"/") })
}
