// Package helm builds and checks Isthmus's Helm chart (the isthmus
// directory beside this file) with Helm's own Go SDK.
//
// Contract:
//   - Stage copies the chart into a directory and adds Istio's CRDs
//     (files/istio-crds.yaml, from the istio.io/api module the main module
//     requires), which the repository never holds: the chart renders them
//     when crds.install is true. Package writes a staged chart as a .tgz
//     (`make chart`, cmd/package-chart).
//   - Render renders a chart as `helm template` does, schema validation
//     included: the manifest, or Helm's error naming the value at fault.
//
// The tests prove the chart: `helm lint`; rendering goldens under testdata
// (-update rewrites them) for the default values, an istiod alias with a
// plug-in CA, remote clusters and a tracing mesh config, and injection
// off; values.schema.json refusing an unknown key and a wrong type, with
// Helm's message; the generated CA and the rendered mesh config accepted
// by Isthmus's own loaders; the Deployment's arguments accepted by the
// real isthmus serve's flag parser; and install, upgrade and uninstall through
// Helm against a real kube-apiserver (deploy/kubeharness), every rendered
// object accepted, the service account's RBAC allowing what Isthmus reads.
package helm
