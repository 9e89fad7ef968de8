package e2e

import "fmt"

// Istio YAML the e2e scenarios share.

// selectedServiceYAML declares the scenario's HTTP service, its endpoints
// the WorkloadEntries labelled app=APP.
func (s *scenario) selectedServiceYAML(app string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %[1]s, namespace: default}
spec:
  hosts: [%[2]s]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: %[3]d, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: %[4]s}}`, s.name, s.host, servicePort, app)
}

// sidecarWorkloadYAML is the WorkloadEntry of a workload with a sidecar
// (tlsMode istio) at address, its service account named like it, on
// network ("" for none).
func sidecarWorkloadYAML(name, address, network string) string {
	doc := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: %[1]s, namespace: default}
spec:
  address: %[2]s
  serviceAccount: %[1]s
  labels: {app: %[1]s, security.istio.io/tlsMode: istio}`, name, address)
	if network != "" {
		doc += "\n  network: " + network
	}
	return doc
}

// serverSidecarYAML is the Sidecar of a server workload without capture:
// an inbound listener on bind:9080 forwarding to the application at app.
func serverSidecarYAML(name, bind, app string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: %[1]s, namespace: default}
spec:
  workloadSelector: {labels: {app: %[1]s}}
  ingress:
  - port: {number: %[2]d, protocol: HTTP, name: http}
    bind: %[3]s
    captureMode: NONE
    defaultEndpoint: %[4]s
  egress:
  - hosts: ["istio-system/*"]`, name, servicePort, bind, app)
}

// clientSidecarYAML is the Sidecar of a client workload without capture: an
// HTTP egress listener on bind:9080 for every service of its namespace.
func clientSidecarYAML(name, bind string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: %[1]s, namespace: default}
spec:
  workloadSelector: {labels: {app: %[1]s}}
  egress:
  - port: {number: %[2]d, protocol: HTTP, name: http}
    bind: %[3]s
    captureMode: NONE
    hosts: ["./*"]`, name, servicePort, bind)
}
