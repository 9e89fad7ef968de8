// Package dataplane measures the latency Envoy sidecars configured by
// Isthmus add to a request, following Istio's method: HTTP/1.1, a 1 KB
// request body answered with a 1 KB body, 1,000 requests per second over 16
// connections, a warm-up, then a fixed measured duration per scenario,
// reporting p50/p90/p99/p99.9, the rate achieved and the errors.
//
// Three scenarios share one application server (127.0.0.1, in process):
//
//   - direct: the load generator talks to the application;
//   - isthmus: load generator → client sidecar → server sidecar →
//     application, both Envoys bootstrapped by `isthmus bootstrap` and
//     configured by an `isthmus serve` reading a ServiceEntry, a
//     WorkloadEntry and two Sidecar resources (egress and ingress with
//     captureMode NONE, each bound to its own 127.0.0.0/8 address);
//   - static: the same two Envoys with a minimal hand-written static
//     configuration (listener → HTTP connection manager → router → static
//     cluster), the floor the Isthmus configuration should match.
//
// All scenarios are set up and warmed up first, then measured in
// interleaved rounds (Options.Rounds slices of Options.Duration each, the
// order rotating every round), so background load on a shared machine
// falls on every scenario alike rather than on whichever ran during a busy
// spell; that is what makes the isthmus-to-static comparison meaningful.
//
// Contract:
//   - Every address used is in 127.0.0.0/8 (localmesh refuses others).
//   - The load generator is Nighthawk when nighthawk_client is on PATH and
//     Fortio (as a library) otherwise; Options.LoadGenerator forces one.
//   - Each scenario's Result counts, from Envoy's own statistics, the
//     requests each hop (sidecar listener, cluster) and the application saw
//     during the measured rounds, so a caller can check that the traffic took
//     the path the scenario names. Run fails, rather than reports, when a
//     scenario cannot be set up or loaded (a missing Envoy included).
//   - Latency figures are measurements, never assertions: the report states
//     the Isthmus-to-static p90 ratio against the 10 % target without
//     failing on it. The verdict is the median over the rounds of the
//     ratio of the two scenarios' p90s in the same round, with the middle
//     half of the rounds' ratios as its spread and the ratio of the p90s
//     pooled over every request beside it (a few rounds hit by a busy
//     spell move the pooled ratio, not the median).
package dataplane
