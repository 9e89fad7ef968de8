// Package bootstrap writes the Envoy bootstrap that points a sidecar at
// Isthmus (`isthmus bootstrap`).
//
// Contract:
//   - Generate is a pure function of its Options and returns a bootstrap that
//     passed Validate(); YAML renders the same bootstrap with proto field
//     names, ready for `envoy -c`.
//   - The proxy fetches everything over one ADS stream (SotW, or delta when
//     Options.Delta) to the static cluster "xds-grpc", an HTTP/2 cluster of
//     type STATIC when the xDS host is an IP and STRICT_DNS otherwise.
//   - Node metadata is passed through as given; NAMESPACE is added from the
//     node id (TYPE~IP~POD.NAMESPACE~DOMAIN) when absent. node.cluster is
//     Options.Cluster, else WORKLOAD.NAMESPACE, the workload named by the
//     canonical-name or app label, else by the pod name without its
//     generated suffixes.
//   - With Options.TLS, xds-grpc speaks TLS 1.3 only (the connection carries
//     the workload's keys; over TLS 1.3 Envoy 1.40 agrees keys with the
//     hybrid post-quantum X25519MLKEM768, over 1.2 with X25519) to the
//     secure port and takes its
//     client certificate and the mesh roots from two file-based SDS sources
//     (SDSFiles, written by WriteSDSFiles into XDSTLS.SDSDir) whose secrets
//     name the PEM files and watch their directory, so that Envoy reloads
//     them when they are renamed into place or a ..data link is swapped.
//     Files named in a static cluster's TLS context or in bootstrap static
//     secrets are never reloaded (checked against Envoy 1.40).
//   - ReadLabelsFile reads the pod labels file the downward API writes
//     (key="value" lines, Go-quoted values); a bad line is an error naming
//     file and line.
package bootstrap
