// Package capture is the end-to-end test of REDIRECT traffic capture: real
// Envoy sidecars in network namespaces behind istio-iptables style rules,
// configured by a real `isthmus serve`.
//
// The test builds a small pod network of its own. A "hub" namespace holds a
// bridge and runs Isthmus; each pod namespace (a client, reviews-v1 and
// reviews-v2) is wired to the bridge by a veth pair, runs an Envoy sidecar as
// uid 1337 and has the nat rules istio-iptables installs: outbound TCP of
// every user but 1337 is redirected to 15001, inbound TCP to 15006. The
// client application, in the client pod, calls a service by a virtual IP
// that no interface holds; only capture and the configuration Isthmus serves
// (virtualOutbound, the per-port outbound listener, the server sidecar's
// virtualInbound) make the call reach the reviews application.
//
// Contract:
//   - Every address used exists only inside namespaces the test created
//     (10.77.0.0/24 and the service VIP 10.77.100.10); the host's own
//     network is never changed nor sent traffic.
//   - Namespace names carry the test process id (isthmus-e2e-PID-ROLE); all
//     of them, and every process started in them, are removed when the test
//     ends, pass or fail. Namespaces left by an earlier run whose process is
//     gone are removed at start.
//   - The test needs root, iproute2, iptables and Envoy; without any of them
//     it fails with what to install (`make tools`), it never skips.
//   - Logs and the config directory are kept, and their path printed, when
//     the test fails.
package capture
