// Package freeport picks loopback ports for the real components tests and
// benchmarks start (kube-apiserver, etcd, a Consul agent, isthmus serve and
// Envoy through localmesh.FreeAddr).
//
// Contract:
//   - Pick(n) returns n distinct ports of 127.0.0.1 that were free when
//     picked, chosen at random below the kernel's ephemeral port range, so
//     that no outgoing connection of this machine takes one as its source
//     port before the component binds it.
//   - A port can still be taken in between by another process picking
//     the same one (two tests starting at once): callers start their
//     component again on other ports when it reports "address already in
//     use".
package freeport
