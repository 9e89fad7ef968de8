package kubeharness

import (
	"sync"
	"testing"
)

// StartT starts a cluster for the test t. It fails t (never skips) when
// the cluster cannot start, prints every log's tail if t fails, and closes
// the cluster when t ends.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	return StartAllT(t, opts)[0]
}

// StartAllT starts one cluster per Options, concurrently, as StartT does.
func StartAllT(t testing.TB, opts ...Options) []*Cluster {
	t.Helper()
	clusters := make([]*Cluster, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Go(func() { clusters[i], errs[i] = Start(t.Context(), o) })
	}
	wg.Wait()
	for _, c := range clusters {
		if c != nil {
			closeWithT(t, c)
		}
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return clusters
}

// closeWithT closes c when t ends, after printing its logs if t failed.
func closeWithT(t testing.TB, c *Cluster) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster %s logs:\n%s", c.Name, c.Logs(40))
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
}
