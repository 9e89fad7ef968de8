package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/isthmus-mesh/isthmus/discovery/kube"
)

// --kubeconfig ID=in-cluster reads the pod's own cluster (as the Helm chart
// passes it), not a file named "in-cluster": outside a pod that is an
// error about the in-cluster configuration, naming the cluster.
func TestKubeconfigInClusterIsThePodsCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	set, err := kube.NewClusterSet(kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var logs bytes.Buffer
	addCluster(context.Background(), set, kubeconfig{clusterID: "aws", path: inClusterConfig}, slog.New(slog.NewTextHandler(&logs, nil)))
	l := logs.String()
	if !strings.Contains(l, "cluster=aws") || !strings.Contains(l, "in-cluster configuration") || strings.Contains(l, "load kubeconfig") {
		t.Errorf("want an in-cluster configuration error naming cluster aws, got:\n%s", l)
	}
}
