package xdsload

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// Scenario names, as the --scenarios flag takes them.
const (
	ScenarioConnectStorm   = "connect-storm"
	ScenarioEndpointChurn  = "endpoint-churn"
	ScenarioWeightChange   = "weight-change"
	ScenarioNewService     = "new-service"
	ScenarioMeshWideChange = "mesh-wide-change"
)

// ChangeScenarios are the scenarios that change the mesh, in the order
// they run; each needs a config directory to change.
var ChangeScenarios = []string{ScenarioEndpointChurn, ScenarioWeightChange, ScenarioNewService, ScenarioMeshWideChange}

// changeMaker makes change number seq of a scenario: the detector proxies
// use to recognise it and the function that applies it.
type changeMaker func(seq int) (desc string, det *Detector, apply func() error, err error)

// meshState is the mesh as the run has changed it, and the history of each
// changed service, so that a proxy that skipped an intermediate version of
// a service still counts as having the change.
type meshState struct {
	spec meshgen.Spec
	dir  string

	mu       sync.Mutex
	services map[int]*meshgen.Service
	gens     map[int]int   // endpoint generation per service
	weights  map[int][]int // v1 weights issued per service, in order
	added    []int         // services created by the run
	touched  bool          // a mesh-wide PeerAuthentication was written
}

func newMeshState(spec meshgen.Spec, dir string) *meshState {
	return &meshState{spec: spec, dir: dir, services: map[int]*meshgen.Service{}, gens: map[int]int{}, weights: map[int][]int{}}
}

// service returns the current state of service i.
func (m *meshState) service(i int) *meshgen.Service {
	if svc, ok := m.services[i]; ok {
		return svc
	}
	svc := m.spec.Service(i)
	m.services[i] = svc
	return svc
}

func (m *meshState) write(svc *meshgen.Service) error {
	return meshgen.WriteFile(m.dir, meshgen.File{Path: svc.File(), Data: svc.YAML()})
}

// makers returns the change maker of a scenario.
func (m *meshState) maker(scenario string) (changeMaker, error) {
	switch scenario {
	case ScenarioEndpointChurn:
		return m.endpointChange, nil
	case ScenarioWeightChange:
		return m.weightChange, nil
	case ScenarioNewService:
		return m.newService, nil
	case ScenarioMeshWideChange:
		return m.meshWideChange, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

// endpointChange replaces the last endpoint of the next service, round
// robin, as a restarted pod. Proxies that hold the service's cluster see it
// when their EDS shows the new address (or a later one).
func (m *meshState) endpointChange(seq int) (string, *Detector, func() error, error) {
	if m.spec.EndpointsPerService == 0 {
		return "", nil, nil, fmt.Errorf("%s needs endpoints (--endpoints > 0)", ScenarioEndpointChurn)
	}
	i := seq % m.spec.Services
	m.mu.Lock()
	svc := m.service(i)
	m.gens[i]++
	gen := m.gens[i]
	m.mu.Unlock()
	cluster := outboundCluster(svc.Port, "", svc.Host)
	det := &Detector{Types: []string{typeEDS}, Start: func(before configState) func(configState) bool {
		if endpointsOf(before, cluster) == nil {
			return nil
		}
		return func(after configState) bool {
			return hasAnyAddress(endpointsOf(after, cluster), m.endpointAddressesSince(i, gen))
		}
	}}
	apply := func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		svc.SetEndpointGeneration(gen)
		return m.write(svc)
	}
	return fmt.Sprintf("%s: endpoint generation %d", svc.Host, gen), det, apply, nil
}

// endpointAddressesSince lists the addresses service i's replaced endpoint
// has had from generation gen on.
func (m *meshState) endpointAddressesSince(i, gen int) map[string]bool {
	m.mu.Lock()
	latest := m.gens[i]
	m.mu.Unlock()
	out := map[string]bool{}
	for g := gen; g <= latest; g++ {
		out[meshgen.ReplacedEndpointAddress(i, m.spec.EndpointsPerService, g)] = true
	}
	return out
}

// weightChange gives the next service with a VirtualService new weights
// (v1 between 21 and 79, never the initial 80). Proxies that route to the
// service see it when their RDS carries the new weight (or a later one).
func (m *meshState) weightChange(seq int) (string, *Detector, func() error, error) {
	routed := m.routedServices()
	if len(routed) == 0 {
		return "", nil, nil, fmt.Errorf("%s needs VirtualServices (--virtual-services)", ScenarioWeightChange)
	}
	i := routed[seq%len(routed)]
	m.mu.Lock()
	svc := m.service(i)
	v1 := 21 + len(m.weights[i])%59
	m.weights[i] = append(m.weights[i], v1)
	issued := len(m.weights[i]) - 1
	m.mu.Unlock()
	v1Cluster := outboundCluster(svc.Port, meshgen.SubsetName(0), svc.Host)
	det := &Detector{Types: []string{typeRDS}, Start: func(before configState) func(configState) bool {
		if len(virtualHostsFor(before, svc.Host)) == 0 {
			return nil
		}
		return func(after configState) bool {
			seen := m.weightsSince(i, issued)
			for _, w := range clusterWeights(virtualHostsFor(after, svc.Host), v1Cluster) {
				if seen[int(w)] {
					return true
				}
			}
			return false
		}
	}}
	apply := func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		svc.SetWeights(v1, 100-v1)
		return m.write(svc)
	}
	return fmt.Sprintf("%s: v1 weight %d", svc.Host, v1), det, apply, nil
}

// routedServices lists the services generated with a VirtualService.
func (m *meshState) routedServices() []int {
	var out []int
	for i := 0; i < m.spec.Services; i++ {
		if m.spec.Service(i).Weights != nil {
			out = append(out, i)
		}
	}
	return out
}

func (m *meshState) weightsSince(i, issued int) map[int]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]bool{}
	for _, w := range m.weights[i][issued:] {
		out[w] = true
	}
	return out
}

// newService adds a service after the generated ones, in namespace
// (index mod K). Proxies that see that namespace have it when they hold its
// cluster, its endpoints, a virtual host for it and the secrets their
// configuration references.
func (m *meshState) newService(seq int) (string, *Detector, func() error, error) {
	m.mu.Lock()
	i := m.spec.Services + len(m.added)
	m.added = append(m.added, i)
	svc := m.service(i)
	m.mu.Unlock()
	cluster := outboundCluster(svc.Port, "", svc.Host)
	wantEndpoints := m.spec.EndpointsPerService > 0
	det := &Detector{Start: func(before configState) func(configState) bool {
		if !seesNamespace(before, svc.Namespace) {
			return nil
		}
		return func(after configState) bool {
			if after.get(typeCDS, cluster) == nil || len(virtualHostsFor(after, svc.Host)) == 0 || !after.secretsWarm() {
				return false
			}
			return !wantEndpoints || len(endpointsOf(after, cluster)) > 0
		}
	}}
	apply := func() error { return m.write(svc) }
	return "new service " + svc.Host, det, apply, nil
}

// meshWideChange writes (then alternates the mode of) a PeerAuthentication
// in istio-system. Every proxy is concerned; it has the change when any of
// its resources differs from what it held before and it holds every secret
// its configuration references.
func (m *meshState) meshWideChange(seq int) (string, *Detector, func() error, error) {
	mode := "STRICT"
	if seq%2 == 1 {
		mode = "PERMISSIVE"
	}
	det := &Detector{Start: func(before configState) func(configState) bool {
		return func(after configState) bool { return differsWarm(before, after) }
	}}
	apply := func() error {
		m.mu.Lock()
		m.touched = true
		m.mu.Unlock()
		return meshgen.WriteFile(m.dir, meshgen.File{
			Path: meshgen.PeerAuthenticationFile,
			Data: meshgen.PeerAuthenticationYAML("default", mode),
		})
	}
	return "mesh-wide PeerAuthentication " + mode, det, apply, nil
}

// restore puts the config directory back as generated: changed services
// rewritten, added services and the PeerAuthentication removed.
func (m *meshState) restore() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	added := map[int]bool{}
	for _, i := range m.added {
		added[i] = true
		if err := meshgen.RemoveFile(m.dir, m.services[i].File()); err != nil {
			return err
		}
	}
	for i := range m.services {
		if added[i] {
			continue
		}
		if err := m.write(m.spec.Service(i)); err != nil {
			return err
		}
	}
	if !m.touched {
		return nil
	}
	if err := meshgen.RemoveFile(m.dir, meshgen.PeerAuthenticationFile); err != nil {
		return err
	}
	// The run created the directory unless the mesh had one; an error
	// means it holds other files and stays.
	_ = os.Remove(filepath.Join(m.dir, filepath.Dir(filepath.FromSlash(meshgen.PeerAuthenticationFile))))
	return nil
}
