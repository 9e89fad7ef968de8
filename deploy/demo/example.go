package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/policy"
)

// example is what the demo needs to know about the example mesh: the
// workloads to start and the sidecar of the client.
type example struct {
	dir       string
	workloads []workload
	client    client
}

// workload is one WorkloadEntry: it is started as an upstream named
// APP-VERSION on its address and "http" port.
type workload struct {
	name string
	addr string
}

// client is the demo client: the Sidecar whose egress listener binds an
// address, and the labels it selects.
type client struct {
	name      string
	namespace string
	labels    map[string]string
	bindIP    string
	port      uint32
}

func (c client) listenAddr() string {
	return net.JoinHostPort(c.bindIP, strconv.Itoa(int(c.port)))
}

// readExample loads dir as `isthmus serve` would; any problem in it is an
// error.
func readExample(dir string) (*example, error) {
	cfg, problems := policy.LoadPaths([]string{dir})
	if len(problems) > 0 {
		return nil, fmt.Errorf("the example mesh has %d problem(s), first: %w", len(problems), problems[0])
	}
	ex := &example{dir: dir}
	for _, o := range cfg.List(policy.KindWorkloadEntry) {
		ex.workloads = append(ex.workloads, workloadOf(o.Spec.(*networking.WorkloadEntry)))
	}
	for _, o := range cfg.List(policy.KindSidecar) {
		if c, ok := clientOf(o, o.Spec.(*networking.Sidecar)); ok {
			ex.client = c
		}
	}
	if ex.client.bindIP == "" {
		return nil, fmt.Errorf("%s: no Sidecar with a workloadSelector and an egress listener bound to an address", dir)
	}
	sort.Slice(ex.workloads, func(i, j int) bool { return ex.workloads[i].name < ex.workloads[j].name })
	return ex, nil
}

func workloadOf(we *networking.WorkloadEntry) workload {
	name := strings.TrimSuffix(we.GetLabels()["app"]+"-"+we.GetLabels()["version"], "-")
	port := strconv.Itoa(int(we.GetPorts()["http"]))
	return workload{name: name, addr: net.JoinHostPort(we.GetAddress(), port)}
}

func clientOf(o *policy.Object, sc *networking.Sidecar) (client, bool) {
	labels := sc.GetWorkloadSelector().GetLabels()
	for _, eg := range sc.GetEgress() {
		if eg.GetBind() != "" && eg.GetPort().GetNumber() != 0 && len(labels) > 0 {
			return client{name: o.Name, namespace: o.Namespace, labels: labels, bindIP: eg.GetBind(), port: eg.GetPort().GetNumber()}, true
		}
	}
	return client{}, false
}
