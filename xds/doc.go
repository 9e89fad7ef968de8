// Package xds is the root of Isthmus's Envoy-facing side. Its subpackages are:
//
//   - model: the immutable Snapshot of the world and the Proxy asking for config;
//   - translate: a pure function from (Snapshot, Proxy) to Envoy resources;
//   - server: the cache of per-proxy resources and the ADS gRPC server.
package xds
