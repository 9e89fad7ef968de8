package inject

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/webhook"
)

// Path is where the API server posts pods to inject, as istiod's.
const Path = "/inject"

// ClusterPath and ClusterNetworkPath are Path for pods of another
// cluster, as istiod's remote clusters call it: their pods get that
// cluster's ID (and network) instead of Config's.
const (
	ClusterPath        = Path + "/cluster/{cluster}"
	ClusterNetworkPath = ClusterPath + "/net/{network}"
)

// Namespaces tells a namespace's labels.
type Namespaces interface {
	Labels(ctx context.Context, name string) (map[string]string, error)
}

// namespaceTimeout bounds a namespace lookup: the API server gives the
// whole webhook call 10 s at most.
const namespaceTimeout = 3 * time.Second

// ClientNamespaces reads namespaces from a cluster's API server.
type ClientNamespaces struct{ Client kubernetes.Interface }

// Labels gets the namespace.
func (c ClientNamespaces) Labels(ctx context.Context, name string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, namespaceTimeout)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return ns.Labels, nil
}

// Options configure Handler.
type Options struct {
	Config     Config
	Namespaces Namespaces
	// ClusterNamespaces, when set, gives the namespaces of a remote
	// cluster by its id: a pod created there (ClusterPath) is decided by
	// its own cluster's namespace labels, as that cluster's users label
	// them; Namespaces serves a cluster it does not know.
	ClusterNamespaces func(clusterID string) (Namespaces, bool)
	Logger            *slog.Logger // default slog.Default()
}

// Handler serves Path, ClusterPath and ClusterNetworkPath (any other path
// is 404). It fails open: a pod it
// cannot read, in a namespace it cannot look up, or with an annotation it
// cannot parse is admitted unchanged, with a warning and a log line.
func Handler(opts Options) (http.Handler, error) {
	if _, err := opts.Config.withDefaults(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle(Path, opts.admission())
	remote := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := opts
		o.Config.ClusterID, o.Config.Network = r.PathValue("cluster"), cmpOr(r.PathValue("network"), opts.Config.Network)
		if opts.ClusterNamespaces != nil {
			if ns, ok := opts.ClusterNamespaces(o.Config.ClusterID); ok {
				o.Namespaces = ns
			}
		}
		o.admission().ServeHTTP(w, r)
	})
	mux.Handle(ClusterPath, remote)
	mux.Handle(ClusterNetworkPath, remote)
	return mux, nil
}

// admission is the admission handler injecting with o.
func (o Options) admission() http.Handler {
	inj := &injector{opts: o}
	return webhook.AdmissionHandler(inj.review, webhook.Options{Logger: o.Logger})
}

type injector struct{ opts Options }

// review answers one pod creation.
func (i *injector) review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Pod" || req.Kind.Group != "" || len(req.Object.Raw) == 0 {
		return resp
	}
	patch, err := i.patch(req)
	if err != nil {
		i.opts.Logger.Warn("pod admitted without sidecar", "namespace", req.Namespace, "name", req.Name, "error", err)
		resp.Warnings = []string{"Isthmus did not inject a sidecar: " + err.Error()}
		return resp
	}
	if patch != nil {
		jsonPatch := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &jsonPatch
	}
	return resp
}

// patch is the JSON patch of the request's pod; nil when it gets no
// sidecar.
func (i *injector) patch(req *admissionv1.AdmissionRequest) ([]byte, error) {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return nil, fmt.Errorf("decoding the pod: %w", err)
	}
	labels, err := i.namespaceLabels(req.Namespace)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", req.Namespace, err)
	}
	d := Decide(req.Namespace, labels, &pod, i.opts.Config.Revision)
	i.opts.Logger.Debug("injection decided", "namespace", req.Namespace, "pod", podName(&pod), "inject", d.Inject, "reason", d.Reason)
	if !d.Inject {
		return nil, nil
	}
	injected, err := Pod(&pod, req.Namespace, i.opts.Config)
	if err != nil {
		return nil, err
	}
	return Patch(&pod, injected)
}

func (i *injector) namespaceLabels(name string) (map[string]string, error) {
	if i.opts.Namespaces == nil {
		return nil, nil
	}
	return i.opts.Namespaces.Labels(context.Background(), name)
}
