// Package e2e holds the end-to-end tests of Isthmus with real Envoy: one
// `isthmus serve` process and two Envoy sidecars, one on state-of-the-world
// xDS and one on delta xDS, all on the loopback network (see
// deploy/localmesh). Each scenario writes Istio YAML for its own service
// into the shared config directory, sends traffic through both Envoys and
// asserts what Istio documents for that configuration; after every scenario
// neither Envoy may have rejected an update.
//
// The tests need Envoy (`make tools`); without it they fail, they never skip.
package e2e
