// Package bench measures Isthmus. Its subpackages are the tools:
//
//   - meshgen writes a synthetic mesh as Istio YAML;
//   - xdsload points simulated istio-proxy sidecars at any ADS server and
//     measures time to configuration, change propagation and the control
//     plane's cost;
//   - kubebench runs Isthmus on two real Kubernetes API servers and times
//     EndpointSlice churn and VirtualService edits from the API write to
//     the sidecars' ACK;
//   - consulbench runs Isthmus on a real Consul agent and times instance
//     moves from the Consul write to the sidecars' EDS ACK;
//   - cmd/meshgen, cmd/xdsload, cmd/kubebench and cmd/consulbench are their
//     command lines.
//
// This package holds the Go benchmarks of Isthmus's translation and push
// paths (go test -bench . ./bench) and the helpers they share: MeshSnapshot
// builds the model.Snapshot Isthmus would serve for a generated mesh,
// without going through files. Figures are recorded in RESULTS.md.
package bench
