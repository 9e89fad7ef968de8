package kubeharness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
)

// makeNodes makes each node's network and directory.
func (c *Cluster) makeNodes(opts []NodeOptions) error {
	for _, o := range opts {
		n, err := newNode(c.Dir, o.Name)
		if err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, n)
	}
	return nil
}

// startNodes builds the pause image, starts every node with it and
// images, and waits until all are Ready.
func (c *Cluster) startNodes(ctx context.Context, bin string, images []string) error {
	if len(c.Nodes) == 0 {
		return nil
	}
	imageDir := c.path("images")
	if err := os.MkdirAll(imageDir, 0o700); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	pause, err := nodeimages.Pause(ctx, imageDir)
	if err != nil {
		return err
	}
	images = append([]string{pause}, images...)
	if err := c.routeToAPIServer(); err != nil {
		return err
	}
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Go(func() {
			if errs[i] = n.start(ctx, bin, images); errs[i] == nil {
				errs[i] = n.waitReady(ctx, c)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Node returns the cluster's node of that name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// LoadImage imports a container image tarball into every node's
// containerd.
func (c *Cluster) LoadImage(ctx context.Context, tarball string) error {
	for _, n := range c.Nodes {
		if err := n.LoadImage(ctx, tarball); err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
	}
	return nil
}

// routeToAPIServer routes, from every node but the first, the apiserver's
// address (the first node's HostIP) through the node's own link.
func (c *Cluster) routeToAPIServer() error {
	api := c.apiHost()
	for _, n := range c.Nodes[1:] {
		if err := runIP("-n", n.NetNS, "route", "add", api.String()+"/32", "via", n.HostIP.String()); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}
