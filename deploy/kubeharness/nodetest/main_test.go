package nodetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
)

// clouds are the two clusters the tests share, by name.
var clouds = map[string]*cloud{}

// cloud is one cluster with the demo app deployed.
type cloud struct {
	*kubeharness.Cluster
	startup time.Duration // Start, from nothing to a Ready node
}

// setupTimeout bounds TestMain's set-up: images, clusters, Deployments.
const setupTimeout = 4 * time.Minute

// sidecarImage is the sidecar image's tarball, built while the clusters
// start.
var sidecarImage string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run sets the clusters up, runs the tests and closes the clusters,
// whatever happened.
func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "nodetest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	err = setUp(ctx, dir)
	defer closeClouds()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodetest set-up:", err)
		printLogs()
		return 1
	}
	code := m.Run()
	if code != 0 {
		printLogs()
	}
	return code
}

// setUp builds the images, starts both clusters and deploys the demo app
// in each.
func setUp(ctx context.Context, dir string) error {
	demo, err := nodeimages.DemoApp(ctx, dir)
	if err != nil {
		return err
	}
	var sidecarErr error
	var building sync.WaitGroup
	building.Go(func() { sidecarImage, sidecarErr = buildSidecar(ctx, dir) })
	startErr := startClouds(ctx, demo)
	building.Wait()
	if err := errors.Join(startErr, sidecarErr); err != nil {
		return err
	}
	for _, c := range clouds {
		if err := c.LoadImage(ctx, sidecarImage); err != nil {
			return err
		}
		if err := deployDemo(ctx, c); err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
	}
	return nil
}

func buildSidecar(ctx context.Context, dir string) (string, error) {
	envoy, err := envoybin.Path()
	if err != nil {
		return "", err
	}
	return nodeimages.Sidecar(ctx, dir, nodeimages.SidecarOptions{Envoy: envoy})
}

// startClouds starts "aws" (Services 10.96/16) and "gcp" (10.97/16) at
// once, each with one node holding the demo image.
func startClouds(ctx context.Context, demoImage string) error {
	serviceCIDRs := map[string]string{"aws": "10.96.0.0/16", "gcp": "10.97.0.0/16"}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for name, cidr := range serviceCIDRs {
		wg.Go(func() {
			began := time.Now()
			c, err := kubeharness.Start(ctx, kubeharness.Options{
				Name: name, ServiceCIDR: cidr, Nodes: []kubeharness.NodeOptions{{}},
				Images: []string{demoImage}, Logger: slog.Default(),
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			clouds[name] = &cloud{Cluster: c, startup: time.Since(began)}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func closeClouds() {
	for name, c := range clouds {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "close cluster %s: %v\n", name, err)
		}
	}
}

func printLogs() {
	for name, c := range clouds {
		fmt.Fprintf(os.Stderr, "cluster %s logs:\n%s\n", name, c.Logs(30))
	}
}
