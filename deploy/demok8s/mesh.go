package demok8s

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// pods are the demo's driver pods, which the host makes call others.
type pods struct {
	frontend, client corev1.Pod
}

// deployMesh labels the namespaces, makes Isthmus reachable from gcp,
// creates service-b's Service in both clouds and deploys the workloads,
// each injected by the real webhook of its cluster, and waits until they
// are Ready.
func (d *demo) deployMesh(ctx context.Context) error {
	addrs, err := d.prepareClouds(ctx)
	if err != nil {
		return err
	}
	if d.opts.TwoNetworks {
		if err := d.deployGateways(ctx, addrs); err != nil {
			return err
		}
	}
	placed := d.placement(addrs)
	for _, p := range placed {
		if err := deploy(ctx, p.c, p.w); err != nil {
			return err
		}
	}
	for _, p := range placed {
		if err := d.waitPlaced(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// addresses are the ClusterIPs the workloads dial, by cloud: Isthmus (in
// gcp, the Service naming aws's Isthmus pods) and, in aws, service-b.
type addresses struct {
	awsIsthmus, gcpIsthmus, awsServiceB string
}

// prepareClouds makes the namespaces, Services and root certificates the
// workloads need in both clouds.
func (d *demo) prepareClouds(ctx context.Context) (addresses, error) {
	aws, gcp := d.clouds[AWS], d.clouds[GCP]
	var a addresses
	var err error
	for _, c := range []*cloud{aws, gcp} {
		if err = createNamespaces(ctx, c, d.networkOf(c.Name)); err != nil {
			return a, err
		}
	}
	if a.gcpIsthmus, err = exposeIsthmusToRemote(ctx, aws, gcp, d.networkOf(GCP)); err != nil {
		return a, err
	}
	if a.awsIsthmus, err = serviceIP(ctx, aws, SystemNamespace, Release); err != nil {
		return a, err
	}
	if a.awsServiceB, err = createService(ctx, aws, BackendNamespace, ServiceB); err != nil {
		return a, err
	}
	if _, err = createService(ctx, gcp, BackendNamespace, ServiceB); err != nil {
		return a, err
	}
	for _, ns := range append(meshNamespaces, SystemNamespace) {
		if err = copyRootCert(ctx, aws, gcp, ns); err != nil {
			return a, err
		}
	}
	return a, nil
}

// deployGateways runs each cloud's east-west gateway and waits until
// both are Ready.
func (d *demo) deployGateways(ctx context.Context, a addresses) error {
	isthmus := map[string]string{AWS: a.awsIsthmus, GCP: a.gcpIsthmus}
	for _, c := range d.clouds {
		if err := deployEastWest(ctx, c, d.networkOf(c.Name), isthmus[c.Name]); err != nil {
			return err
		}
	}
	for _, c := range d.clouds {
		pods, err := waitReady(ctx, c, SystemNamespace, "app="+EastWestName)
		if err != nil {
			return err
		}
		d.report.Gateways++
		d.printf("%s: east-west gateway %s Ready, network %s, at %s:%d", c.Name, pods[0].Name, d.networkOf(c.Name), c.node().IP, EastWestPort)
	}
	return nil
}

// placed is a workload and the cloud it runs in.
type placed struct {
	c *cloud
	w workload
}

// placement is the demo's workloads: the frontend and client (drivers)
// and service-b in aws, service-b in gcp.
func (d *demo) placement(a addresses) []placed {
	aws, gcp := d.clouds[AWS], d.clouds[GCP]
	awsHosts := map[string]string{DiscoveryHost: a.awsIsthmus, ServiceBHost: a.awsServiceB}
	return []placed{
		{aws, workload{namespace: FrontendNamespace, app: FrontendApp, account: FrontendAccount, driver: true, hosts: awsHosts}},
		{aws, workload{namespace: ClientNamespace, app: ClientApp, account: ClientApp, driver: true, hosts: awsHosts}},
		{aws, workload{namespace: BackendNamespace, app: ServiceB, account: ServiceB, hosts: map[string]string{DiscoveryHost: a.awsIsthmus}}},
		{gcp, workload{namespace: BackendNamespace, app: ServiceB, account: ServiceB, hosts: map[string]string{DiscoveryHost: a.gcpIsthmus}}},
	}
}

// waitPlaced waits until a workload's pod is Ready with its sidecar, and
// keeps the drivers' pods.
func (d *demo) waitPlaced(ctx context.Context, p placed) error {
	ready, err := waitReady(ctx, p.c, p.w.namespace, "app="+p.w.app)
	if err != nil {
		return err
	}
	if err := d.noteInjected(p.c, ready[0]); err != nil {
		return err
	}
	switch p.w.app {
	case FrontendApp:
		d.pods.frontend = ready[0]
	case ClientApp:
		d.pods.client = ready[0]
	}
	return nil
}

// noteInjected prints a Ready pod's containers, and fails if it has no
// sidecar.
func (d *demo) noteInjected(c *cloud, p corev1.Pod) error {
	var names []string
	for _, ctr := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		names = append(names, ctr.Name)
	}
	d.printf("%s: pod %s/%s Ready on node %s, IP %s, containers %s", c.Name, p.Namespace, p.Name, p.Spec.NodeName, p.Status.PodIP, strings.Join(names, ", "))
	if !injected(p) {
		return fmt.Errorf("cluster %s: pod %s/%s has no sidecar", c.Name, p.Namespace, p.Name)
	}
	d.report.Injected++
	return nil
}

func serviceIP(ctx context.Context, c *cloud, namespace, name string) (string, error) {
	svc, err := c.Client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("cluster %s: Service %s/%s: %w", c.Name, namespace, name, err)
	}
	return svc.Spec.ClusterIP, nil
}

// configure applies the mesh configuration and waits until the frontend
// reaches service-b through it.
func (d *demo) configure(ctx context.Context) error {
	applied, err := applyMesh(ctx, d.clouds[AWS])
	for _, a := range applied {
		d.printf("applied %s", a)
	}
	if err != nil {
		return err
	}
	if _, err = waitStatus(ctx, d.pods.frontend, serviceBURL("/api/v1/ready"), 200, 2*time.Minute); err != nil {
		return err
	}
	return waitEnvoyRoutes(ctx, d.pods.frontend, "|"+GCP+"|"+ServiceBHost, true)
}

// waitEnvoyRoutes waits until the route configuration of a driver pod's
// Envoy (its admin on 127.0.0.1:15000) holds text, or no longer does.
func waitEnvoyRoutes(ctx context.Context, from corev1.Pod, text string, present bool) error {
	var last callResult
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		last, err = callFrom(ctx, from, "http://127.0.0.1:15000/config_dump?resource=dynamic_route_configs")
		return err == nil && last.Status == 200 && strings.Contains(last.Body, text) == present, nil
	})
	if err != nil {
		return fmt.Errorf("Envoy of pod %s: routes holding %q: %v, want %v: %w", from.Name, text, !present, present, err)
	}
	return nil
}

// splitCalls is how many calls measure the 80/20 split.
const splitCalls = 1000

// observeSplit sends splitCalls from the frontend to service-b and counts
// the answers by cloud.
func (d *demo) observeSplit(ctx context.Context) error {
	t := send(ctx, d.pods.frontend, serviceBURL("/api/v1/items"), splitCalls)
	byCloud, failures := t.counts()
	d.report.Split, d.report.SplitFailures = byCloud, len(failures)
	d.printf("%d calls frontend → service-b (VirtualService 80/20): aws %d, gcp %d, failed %d", splitCalls, byCloud[AWS], byCloud[GCP], len(failures))
	return nil
}

// authzCases are the AuthorizationPolicy's checks: who calls which path.
var authzCases = []struct {
	from, path string
	want       int
}{
	{FrontendApp, "/api/v1/items", 200},
	{FrontendApp, "/api/v2/items", 403},
	{ClientApp, "/api/v1/items", 403},
}

// observeAuthz calls service-b as the frontend and as the client, and
// records the statuses and the identity service-b saw.
func (d *demo) observeAuthz(ctx context.Context) error {
	for _, c := range authzCases {
		from := map[string]corev1.Pod{FrontendApp: d.pods.frontend, ClientApp: d.pods.client}[c.from]
		r, err := callFrom(ctx, from, serviceBURL(c.path))
		if err != nil {
			return err
		}
		d.report.Authz = append(d.report.Authz, AuthzResult{From: c.from, Path: c.path, Status: r.Status, Want: c.want})
		d.printf("GET %s as %s/%s: HTTP %d (want %d)", c.path, from.Namespace, from.Spec.ServiceAccountName, r.Status, c.want)
		if r.Status == 200 && d.report.ClientCert == "" {
			d.report.ClientCert = r.answered().ClientCert
			d.printf("service-b saw X-Forwarded-Client-Cert: %s", d.report.ClientCert)
		}
	}
	return nil
}

// observeFailover removes the split, then deletes aws's service-b pod
// (scaling its Deployment to 0) under continuous traffic: the calls move
// to gcp.
func (d *demo) observeFailover(ctx context.Context) error {
	aws := d.clouds[AWS]
	if err := deleteSplit(ctx, aws); err != nil {
		return err
	}
	if err := waitEnvoyRoutes(ctx, d.pods.frontend, "|"+GCP+"|"+ServiceBHost, false); err != nil {
		return err
	}
	if err := d.waitBothClouds(ctx); err != nil {
		return err
	}
	tr := startTraffic(ctx, d.pods.frontend, serviceBURL("/api/v1/items"), 50*time.Millisecond)
	time.Sleep(2 * time.Second)
	if err := scale(ctx, aws, BackendNamespace, ServiceB, 0); err != nil {
		tr.finish()
		return err
	}
	began := time.Now()
	time.Sleep(8 * time.Second)
	after := send(ctx, d.pods.frontend, serviceBURL("/api/v1/items"), 20)
	t := tr.finish()
	byCloud, failures := t.counts()
	afterCloud, afterFailures := after.counts()
	d.report.Failover = Outcome{Calls: t.total(), ByCloud: byCloud, Failures: failures, After: afterCloud}
	d.printf("aws service-b pod deleted under traffic (every 50 ms): %d calls, %d failed %v; the 20 calls %s later: %v, failed %d",
		t.total(), len(failures), failures, time.Since(began).Round(time.Second), afterCloud, len(afterFailures))
	return nil
}

// waitBothClouds waits until calls to service-b reach both clouds.
func (d *demo) waitBothClouds(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		byCloud, _ := send(ctx, d.pods.frontend, serviceBURL("/api/v1/items"), 20).counts()
		if byCloud[AWS] > 0 && byCloud[GCP] > 0 {
			return nil
		}
	}
	return fmt.Errorf("service-b without the split: calls did not reach both clouds")
}

func scale(ctx context.Context, c *cloud, namespace, name string, replicas int32) error {
	s, err := c.Client.AppsV1().Deployments(namespace).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("cluster %s: scale %s/%s: %w", c.Name, namespace, name, err)
	}
	s.Spec.Replicas = replicas
	if _, err := c.Client.AppsV1().Deployments(namespace).UpdateScale(ctx, name, s, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("cluster %s: scale %s/%s: %w", c.Name, namespace, name, err)
	}
	return nil
}
