package demok8s

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/isthmus-mesh/isthmus/xds/server"
)

// monitoringPort serves Isthmus's /debug/proxies.
const monitoringPort = 15014

// replicaProxies is what each Ready Isthmus pod's /debug/proxies lists, by
// pod name.
func replicaProxies(ctx context.Context, aws *cloud) (map[string][]server.ProxyStatus, error) {
	pods, err := waitReady(ctx, aws, SystemNamespace, isthmusSelector)
	if err != nil {
		return nil, err
	}
	out := map[string][]server.ProxyStatus{}
	for _, p := range pods {
		var list []server.ProxyStatus
		if err := getJSON(ctx, fmt.Sprintf("http://%s:%d/debug/proxies", p.Status.PodIP, monitoringPort), &list); err != nil {
			return nil, fmt.Errorf("Isthmus pod %s: %w", p.Name, err)
		}
		out[p.Name] = list
	}
	return out, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hostClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// meshProxies are the "POD.NAMESPACE" of every running pod with Isthmus's
// proxy (sidecars and east-west gateways) in both clouds: the proxies
// Isthmus must know.
func meshProxies(ctx context.Context, clouds map[string]*cloud) ([]string, error) {
	var out []string
	for _, c := range clouds {
		for _, ns := range append(meshNamespaces, SystemNamespace) { // with the east-west gateways
			list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, fmt.Errorf("cluster %s: pods of %s: %w", c.Name, ns, err)
			}
			for _, p := range list.Items {
				if p.DeletionTimestamp == nil && injected(p) && podReady(p) {
					out = append(out, p.Name+"."+p.Namespace)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// proxyPod is the "POD.NAMESPACE" of a sidecar node id
// (sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local).
func proxyPod(id string) string {
	parts := strings.Split(id, "~")
	if len(parts) != 4 {
		return id
	}
	return parts[2]
}

// accounting is, for every proxy the replicas list, the replica holding
// it and its acknowledged versions.
type accounting struct {
	replica  map[string]string            // proxy pod → Isthmus pod
	versions map[string]map[string]string // proxy pod → type → acked version
}

func account(lists map[string][]server.ProxyStatus) accounting {
	a := accounting{replica: map[string]string{}, versions: map[string]map[string]string{}}
	for replica, list := range lists {
		for _, ps := range list {
			pod := proxyPod(ps.ID)
			a.replica[pod] = replica
			a.versions[pod] = map[string]string{}
			for t, ts := range ps.Types {
				a.versions[pod][t] = ts.Acked
			}
		}
	}
	return a
}

// proxies are the proxy pods accounted for, sorted.
func (a accounting) proxies() []string { return slices.Sorted(maps.Keys(a.replica)) }

// envoyStats are the counters of the frontend's Envoy that a response of
// Isthmus moves: config updates accepted per type.
var envoyStats = []string{"cluster_manager.cds.update_success", "listener_manager.lds.update_success"}

// envoyCounters reads envoyStats from a driver pod's own Envoy admin
// (127.0.0.1:15000, outside the capture).
func envoyCounters(ctx context.Context, from corev1.Pod) (map[string]string, error) {
	r, err := callFrom(ctx, from, "http://127.0.0.1:15000/stats?filter="+strings.Join(envoyStats, "|"))
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("Envoy admin of pod %s: %s", from.Name, r)
	}
	out := map[string]string{}
	for line := range strings.Lines(r.Body) {
		if name, value, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && slices.Contains(envoyStats, name) {
			out[name] = value
		}
	}
	return out, nil
}

// observeReplicas checks that the replicas together know every proxy,
// then deletes the replica holding the frontend's proxy under continuous
// traffic: no call fails, the frontend's proxy reconnects to the other
// replica and gets no new configuration, and once the replacement replica
// is Ready the replicas again account for every proxy.
func (d *demo) observeReplicas(ctx context.Context) error {
	before, err := d.checkAccounting(ctx, "before")
	if err != nil {
		return err
	}
	frontend := d.pods.frontend.Name + "." + d.pods.frontend.Namespace
	victim := before.replica[frontend]
	countersBefore, err := envoyCounters(ctx, d.pods.frontend)
	if err != nil {
		return err
	}
	tr := startTraffic(ctx, d.pods.frontend, serviceBURL("/api/v1/items"), 50*time.Millisecond)
	time.Sleep(2 * time.Second)
	moved, countersAfter, err := d.replaceReplica(ctx, victim, frontend, before.versions[frontend])
	t := tr.finish()
	if err != nil {
		return err
	}
	byCloud, failures := t.counts()
	r := ReplicaOutcome{
		Outcome: Outcome{Calls: t.total(), ByCloud: byCloud, Failures: failures},
		Killed:  victim, MovedTo: moved.replica[frontend],
		Same:        sameTypes(before.versions[frontend], moved.versions[frontend], true),
		Changed:     sameTypes(before.versions[frontend], moved.versions[frontend], false),
		EnvoyBefore: countersBefore, EnvoyAfter: countersAfter,
	}
	d.report.ReplicaKill = r
	d.printf("deleted Isthmus pod %s (it held the frontend's proxy) under traffic: %d calls, %d failed %v", victim, r.Calls, len(failures), failures)
	d.printf("the frontend's proxy reconnected to %s: the same versions there for %v, other versions for %v (%v → %v); its Envoy's accepted updates %v → %v",
		r.MovedTo, r.Same, r.Changed, before.versions[frontend], moved.versions[frontend], countersBefore, countersAfter)
	_, err = d.checkAccounting(ctx, "after the replacement replica is Ready")
	return err
}

// replaceReplica deletes the Isthmus pod victim, waits until proxy (which
// it held) is on another replica, reads the frontend Envoy's counters,
// then waits for the replacement pod and gives gcp its address.
func (d *demo) replaceReplica(ctx context.Context, victim, proxy string, versions map[string]string) (accounting, map[string]string, error) {
	aws, gcp := d.clouds[AWS], d.clouds[GCP]
	if err := aws.Client.CoreV1().Pods(SystemNamespace).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		return accounting{}, nil, fmt.Errorf("delete Isthmus pod %s: %w", victim, err)
	}
	moved, err := d.waitMoved(ctx, proxy, victim, versions)
	if err != nil {
		return moved, nil, err
	}
	counters, err := envoyCounters(ctx, d.pods.frontend)
	if err != nil {
		return moved, nil, err
	}
	if err := waitIsthmusReady(ctx, aws); err != nil {
		return moved, nil, err
	}
	return moved, counters, syncRemoteEndpoints(ctx, aws, gcp, d.opts.TwoNetworks)
}

// waitMoved waits until proxy is listed by a replica other than gone,
// having acknowledged every type it had acknowledged before, and returns
// the accounting then.
func (d *demo) waitMoved(ctx context.Context, proxy, gone string, before map[string]string) (accounting, error) {
	var a accounting
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		lists, err := replicaProxies(ctx, d.clouds[AWS])
		if err != nil {
			return false, nil
		}
		a = account(lists)
		r, ok := a.replica[proxy]
		return ok && r != gone && ackedAgain(before, a.versions[proxy]), nil
	})
	if err != nil {
		return a, fmt.Errorf("proxy %s did not reconnect to another replica than %s: %w", proxy, gone, err)
	}
	return a, nil
}

// checkAccounting waits until both replicas' /debug/proxies together list
// exactly the mesh's proxies, each once, and prints them.
func (d *demo) checkAccounting(ctx context.Context, when string) (accounting, error) {
	var a accounting
	var want []string
	var listed int
	err := wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		lists, err := replicaProxies(ctx, d.clouds[AWS])
		if err != nil {
			return false, nil
		}
		if want, err = meshProxies(ctx, d.clouds); err != nil {
			return false, err
		}
		a, listed = account(lists), 0
		for _, l := range lists {
			listed += len(l)
		}
		return len(lists) == Replicas && listed == len(want) && slices.Equal(a.proxies(), want), nil
	})
	byReplica := map[string][]string{}
	for p, r := range a.replica {
		byReplica[r] = append(byReplica[r], p)
	}
	d.printf("/debug/proxies %s: %v; mesh proxies %v", when, byReplica, want)
	if err != nil {
		return a, fmt.Errorf("the replicas' /debug/proxies %s list %v (%d entries), want %v: %w", when, a.proxies(), listed, want, err)
	}
	d.report.ProxiesAccounted = append(d.report.ProxiesAccounted, len(want))
	return a, nil
}

// ackedAgain reports whether every type acknowledged in before has an
// acknowledged version in now.
func ackedAgain(before, now map[string]string) bool {
	for t, v := range before {
		if v != "" && now[t] == "" {
			return false
		}
	}
	return true
}

// sameTypes are the types whose versions are equal (same) or differ
// (!same) between a and b, sorted.
func sameTypes(a, b map[string]string, same bool) []string {
	var out []string
	for t, v := range a {
		if (v == b[t]) == same {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
