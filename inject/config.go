package inject

import (
	"errors"
	"fmt"
	"net"
)

// Mode is the kind of sidecar injected.
type Mode string

const (
	// ModeIstioAgent injects what istiod injects: istio-init and the
	// istio-proxy container running istio-agent (`pilot-agent proxy
	// sidecar`), which gets its certificate from Isthmus's CA API.
	ModeIstioAgent Mode = "istio-agent"
	// ModeIsthmus injects Isthmus's own sidecar: a plain Envoy bootstrapped
	// by `isthmus bootstrap`, its credential kept fresh by `isthmus agent`.
	ModeIsthmus Mode = "isthmus"
)

// Defaults of Config.
const (
	DefaultIstioImage       = "docker.io/istio/proxyv2:1.32.0"
	DefaultIsthmusImage     = "isthmus.local/sidecar:dev" // deploy/nodeimages.SidecarRef
	DefaultDiscoveryAddress = "isthmus.istio-system.svc:15012"
	DefaultClusterID        = "Kubernetes"
	DefaultTrustDomain      = "cluster.local"
)

// Config is what every injected sidecar shares.
type Config struct {
	Mode             Mode   // default ModeIstioAgent
	Image            string // the sidecar image; default by mode
	DiscoveryAddress string // HOST:PORT of Isthmus's secure port (ADS and CA)
	Revision         string // the revision this control plane answers for; "" is "default"
	ClusterID        string // the cluster pods run in (CLUSTER_ID)
	Network          string // their network (NETWORK); "" for none
	TrustDomain      string // SPIFFE trust domain
	MeshID           string // default TrustDomain, as Istio
}

// withDefaults fills c's empty fields and checks it.
func (c Config) withDefaults() (Config, error) {
	if c.Mode == "" {
		c.Mode = ModeIstioAgent
	}
	if c.Mode != ModeIstioAgent && c.Mode != ModeIsthmus {
		return c, fmt.Errorf("inject mode %q: want %s or %s", c.Mode, ModeIstioAgent, ModeIsthmus)
	}
	if c.Image == "" {
		c.Image = map[Mode]string{ModeIstioAgent: DefaultIstioImage, ModeIsthmus: DefaultIsthmusImage}[c.Mode]
	}
	c.DiscoveryAddress = cmpOr(c.DiscoveryAddress, DefaultDiscoveryAddress)
	if host, port, err := net.SplitHostPort(c.DiscoveryAddress); err != nil || host == "" || port == "" {
		return c, errors.New("discovery address " + c.DiscoveryAddress + ": want HOST:PORT")
	}
	c.Revision = cmpOr(c.Revision, DefaultRevision)
	c.ClusterID = cmpOr(c.ClusterID, DefaultClusterID)
	c.TrustDomain = cmpOr(c.TrustDomain, DefaultTrustDomain)
	c.MeshID = cmpOr(c.MeshID, c.TrustDomain)
	return c, nil
}

// serverName is the DNS name Isthmus's certificate must hold: the host of
// the discovery address.
func (c Config) serverName() string {
	host, _, _ := net.SplitHostPort(c.DiscoveryAddress)
	return host
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
