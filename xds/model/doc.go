// Package model holds the inputs of translation: an immutable Snapshot of
// services, endpoints and Istio configuration, and the Proxy (an Envoy node as
// istio-proxy identifies itself) that configuration is built for.
//
// Contract: Snapshots and Proxies are immutable after construction and safe to
// share between goroutines.
package model
