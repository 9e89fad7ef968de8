package demok8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// The two clouds: cluster names and Service ranges.
const (
	AWS = "aws"
	GCP = "gcp"
)

var serviceCIDRs = map[string]string{AWS: "10.96.0.0/16", GCP: "10.97.0.0/16"}

// cloud is one cluster of the demo.
type cloud struct {
	*kubeharness.Cluster
	startup time.Duration // from nothing to a Ready node
}

// node is the cloud's only node.
func (c *cloud) node() *kubeharness.Node { return c.Nodes[0] }

// startClouds starts both clusters at once, each with one node that holds
// the images.
func startClouds(ctx context.Context, log *slog.Logger, imageTars []string) (map[string]*cloud, error) {
	clouds := map[string]*cloud{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for name, cidr := range serviceCIDRs {
		wg.Go(func() {
			began := time.Now()
			c, err := kubeharness.Start(ctx, kubeharness.Options{
				Name: name, ServiceCIDR: cidr, Nodes: []kubeharness.NodeOptions{{}},
				Images: imageTars, Logger: log.With("cluster", name),
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("start cluster %s: %w", name, err))
				return
			}
			clouds[name] = &cloud{Cluster: c, startup: time.Since(began)}
		})
	}
	wg.Wait()
	return clouds, errors.Join(errs...)
}

// joinPodNetworks links the nodes (kubeharness.LinkNodes: each reaches the
// other's address), with podRoutes makes the two clusters' pods one
// network by routing each node's pod range over the link, and lets the aws node reach the gcp apiserver (as a cloud's
// public API endpoint is reachable), through the host. It returns the
// link's removal.
func joinPodNetworks(aws, gcp *cloud, podRoutes bool) (func() error, error) {
	unlink, err := kubeharness.LinkNodes(aws.node(), gcp.node())
	if err != nil {
		return nil, err
	}
	a, g := aws.node(), gcp.node()
	apiserver, err := serverHost(gcp.Server)
	if err != nil {
		return unlink, err
	}
	routes := [][]string{{"-n", a.NetNS, "route", "add", apiserver + "/32", "via", a.HostIP.String()}}
	if podRoutes {
		routes = append(routes,
			[]string{"-n", a.NetNS, "route", "add", g.PodCIDR.String(), "via", g.IP.String()},
			[]string{"-n", g.NetNS, "route", "add", a.PodCIDR.String(), "via", a.IP.String()})
	}
	for _, args := range routes {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return unlink, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return unlink, nil
}

// serverHost is the host of an apiserver URL.
func serverHost(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("apiserver URL %q: %w", server, err)
	}
	return u.Hostname(), nil
}

// closeClouds closes every cluster (processes, network namespaces,
// cgroups).
func closeClouds(clouds map[string]*cloud) error {
	var errs []error
	for name, c := range clouds {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close cluster %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
