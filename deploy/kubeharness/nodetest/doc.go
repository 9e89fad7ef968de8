// Package nodetest proves deploy/kubeharness's nodes with real pods: two
// clusters, "aws" and "gcp", each with one node in its own network
// namespace, run the demo app (deploy/demoapp) and the sidecar image
// (deploy/nodeimages). Its tests share the clusters, which TestMain starts
// once and always closes; it holds no code of its own.
package nodetest
