package kubebench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// The two clusters: ids as Isthmus and the sidecars name them, and their
// Service CIDRs. The first is the config cluster.
var (
	clusterNames = [2]string{"aws", "gcp"}
	serviceCIDRs = [2]string{"10.96.0.0/16", "10.97.0.0/16"}
)

// vipCIDR is the ServiceCIDR object each cluster gets so that meshgen's
// VIPs (240.240.HI.LO) are valid ClusterIPs. Without a controller-manager
// the API server takes it as ready.
const vipCIDR = "240.0.0.0/8"

// AddressIn is meshgen's endpoint address addr (10.HI.LO.x) as cluster c
// has it: the first cluster keeps it, the second takes 10.(128+HI).LO.x,
// so that each service's pods have distinct addresses in each cluster (an
// API server refuses 127.0.0.0/8, and these are never traffic targets).
func AddressIn(c int, addr string) string {
	if c == 0 {
		return addr
	}
	rest, ok := strings.CutPrefix(addr, "10.")
	hi, tail, ok2 := strings.Cut(rest, ".")
	n, err := strconv.Atoi(hi)
	if !ok || !ok2 || err != nil || n >= 128 {
		panic(fmt.Sprintf("kubebench: endpoint address %q is not meshgen's 10.HI.LO.x with HI < 128", addr))
	}
	return fmt.Sprintf("10.%d.%s", 128+n, tail)
}

// ProxyIdentity is simulated sidecar k: xdsload's spread over the
// namespaces (proxy k in namespace k mod K), and over the clusters by
// rounds of the namespaces (proxy k in cluster (k / K) mod 2), at the
// address of a pod of its service in its cluster that churn never moves,
// with CLUSTER_ID its cluster's.
func ProxyIdentity(spec meshgen.Spec, k int) *xdsload.Identity {
	id := xdsload.IdentityFor(spec, k)
	c := (k / spec.Namespaces) % 2
	id.ClusterID = clusterNames[c]
	id.IP = AddressIn(c, id.IP)
	return id
}

// cluster is one API server and the benchmark's view of its mesh.
type cluster struct {
	index    int
	name     string
	kc       *kubeharness.Cluster
	client   kubernetes.Interface
	dynamic  dynamic.Interface
	km       *meshgen.KubeMesh
	services []*service
}

// service is one generated service in one cluster, as churn changes it.
type service struct {
	cluster int
	// write serialises the changes of the service; svc and gen are its.
	write sync.Mutex
	svc   *meshgen.Service
	gen   int

	mu sync.RWMutex
	// moved maps each address the moving endpoint has had to the latest
	// generation that gave it that address.
	moved map[string]int
}

func newService(spec meshgen.Spec, c, i int) *service {
	s := &service{cluster: c, svc: spec.Service(i), moved: map[string]int{}}
	s.localise()
	return s
}

// localise gives the service's endpoints their cluster's addresses.
func (s *service) localise() {
	for p := range s.svc.Endpoints {
		s.svc.Endpoints[p].Address = AddressIn(s.cluster, s.svc.Endpoints[p].Address)
	}
}

// next moves the service's last endpoint to its next generation (a pod
// restarted at a new address) and returns the generation and the moved
// endpoint. The caller holds write.
func (s *service) next() (int, meshgen.Endpoint) {
	s.gen++
	s.svc.SetEndpointGeneration(s.gen)
	s.localise()
	ep := s.svc.Endpoints[len(s.svc.Endpoints)-1]
	s.mu.Lock()
	s.moved[ep.Address] = s.gen
	s.mu.Unlock()
	return s.gen, ep
}

// since reports whether address is where a generation from gen on put
// the moving endpoint: a proxy holding it has generation gen, or a later
// one that supersedes it.
func (s *service) since(gen int) func(address string) bool {
	return func(address string) bool {
		s.mu.RLock()
		g, ok := s.moved[address]
		s.mu.RUnlock()
		return ok && g >= gen
	}
}

// prepare makes meshgen's VIPs valid in the cluster and, in the config
// cluster, installs Istio's CRDs.
func (c *cluster) prepare(ctx context.Context) error {
	cidr := &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "meshgen"},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{vipCIDR}},
	}
	if _, err := c.client.NetworkingV1().ServiceCIDRs().Create(ctx, cidr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cluster %s: ServiceCIDR %s: %w", c.name, vipCIDR, err)
	}
	if c.index != 0 {
		return nil
	}
	if err := c.kc.ApplyIstioCRDs(ctx); err != nil {
		return fmt.Errorf("cluster %s: %w", c.name, err)
	}
	return nil
}

// populate writes the mesh of spec into the cluster: namespaces,
// services with their pods and EndpointSlices, and in the config cluster
// the Sidecars, DestinationRules and VirtualServices as custom resources.
func (c *cluster) populate(ctx context.Context, spec meshgen.Spec, workers int) error {
	for j := 0; j < spec.Namespaces; j++ {
		ns := meshgen.KubeNamespace(j)
		if _, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cluster %s: namespace %s: %w", c.name, ns.Name, err)
		}
		if c.index == 0 {
			if err := c.km.ApplyIstioYAML(ctx, meshgen.SidecarYAML(ns.Name)); err != nil {
				return fmt.Errorf("cluster %s: %w", c.name, err)
			}
		}
	}
	c.services = make([]*service, spec.Services)
	for i := range c.services {
		c.services[i] = newService(spec, c.index, i)
	}
	return meshgen.Parallel(ctx, len(c.services), workers, func(ctx context.Context, i int) error {
		if err := c.km.ApplyService(ctx, c.services[i].svc); err != nil {
			return fmt.Errorf("cluster %s: %w", c.name, err)
		}
		return nil
	})
}
