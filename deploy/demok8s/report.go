package demok8s

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is what a run observed and cost.
type Report struct {
	Steps  []Step
	Memory Memory
	Total  time.Duration // from Run's start to the end of the tear-down

	// Injected counts the workload pods that came up with a sidecar;
	// Gateways the east-west gateways that became Ready.
	Injected, Gateways int
	// Split is the answers to the 80/20 VirtualService by cloud, and the
	// calls that failed.
	Split         map[string]int
	SplitFailures int
	// Authz are the AuthorizationPolicy's checks.
	Authz []AuthzResult
	// ClientCert is the X-Forwarded-Client-Cert service-b saw from the
	// frontend.
	ClientCert string
	// Failover is the traffic while aws's service-b pod was deleted.
	Failover Outcome
	// ReplicaKill is the traffic while an Isthmus replica was deleted.
	ReplicaKill ReplicaOutcome
	// ProxiesAccounted is, at each check, how many proxies both replicas'
	// /debug/proxies listed together (each exactly once, every one).
	ProxiesAccounted []int
}

// ReplicaOutcome is an Isthmus replica's deletion under traffic: which
// replica held the frontend's proxy and which it moved to, the xDS types
// whose acknowledged versions (content hashes) are the same on both and
// those that differ, and the frontend Envoy's accepted-update counters
// before and after.
type ReplicaOutcome struct {
	Outcome
	Killed, MovedTo         string
	Same, Changed           []string
	EnvoyBefore, EnvoyAfter map[string]string
}

// AuthzResult is one call to service-b: from which app, which path, the
// status got and the status the policy should give.
type AuthzResult struct {
	From, Path   string
	Status, Want int
}

// Outcome is continuous traffic through an event: the calls, their
// answers by cloud, the failures, and the answers by cloud of calls made
// after it settled.
type Outcome struct {
	Calls    int
	ByCloud  map[string]int
	Failures []string
	After    map[string]int
}

// StepTimes is each step's duration, in order, on one line.
func (r *Report) StepTimes() string {
	var parts []string
	for i, s := range r.Steps {
		parts = append(parts, fmt.Sprintf("%d: %s", i+1, s.Took.Round(100*time.Millisecond)))
	}
	return "steps took " + strings.Join(parts, ", ")
}

// Step is one stage of the run and how long it took.
type Step struct {
	Name string
	Took time.Duration
}

// Memory is the resident memory of both clouds, measured once the mesh
// runs: per process of the clusters (etcd, apiserver…, node daemons), by
// component name, and the pods of each node (their memory cgroup's RSS).
type Memory struct {
	Processes map[string]int64 // bytes, by component
	Pods      map[string]int64 // bytes, by cluster
}

// Total is every process and pod, in bytes.
func (m Memory) Total() int64 {
	var sum int64
	for _, v := range m.Processes {
		sum += v
	}
	for _, v := range m.Pods {
		sum += v
	}
	return sum
}

func (m Memory) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "memory: %d MiB in all; processes of both clusters (MiB):", m.Total()>>20)
	for _, k := range slices.Sorted(maps.Keys(m.Processes)) {
		fmt.Fprintf(&b, " %s %d", k, m.Processes[k]>>20)
	}
	b.WriteString("; pods (MiB):")
	for _, k := range slices.Sorted(maps.Keys(m.Pods)) {
		fmt.Fprintf(&b, " %s %d", k, m.Pods[k]>>20)
	}
	return b.String()
}

// measureMemory reads the resident sets of every cluster's processes and
// of every node's pods.
func measureMemory(clouds map[string]*cloud) Memory {
	m := Memory{Processes: map[string]int64{}, Pods: map[string]int64{}}
	for name, c := range clouds {
		for _, pid := range c.PIDs() {
			m.Processes[processName(pid)] += processRSS(pid)
		}
		for _, n := range c.Nodes {
			m.Pods[name] += cgroupRSS(n.CgroupRoot)
		}
	}
	return m
}

// processRSS is a process's resident set in bytes (0 when it is gone).
func processRSS(pid int) int64 {
	data, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// processName is the component a process runs: the kube multi-call
// binary's first argument, else the program's name.
func processName(pid int) string {
	cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	argv := strings.Split(string(cmdline), "\x00")
	if len(argv) > 1 && filepath.Base(argv[0]) == "kube" {
		return argv[1]
	}
	return filepath.Base(argv[0])
}

// cgroupRSS is total_rss of a cgroup v1 memory cgroup (anonymous memory of
// its processes, page cache left out).
func cgroupRSS(root string) int64 {
	data, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", root, "memory.stat"))
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "total_rss "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return n
		}
	}
	return 0
}
