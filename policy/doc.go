// Package policy reads Istio configuration: it decodes Kubernetes-style YAML
// documents into istio.io/api types, validates them as strictly as Istio does,
// and keeps an immutable, indexed Config snapshot of the last valid version of
// every object.
//
// Contract:
//   - Decode reads every apiVersion Istio serves for the networking
//     (v1, v1beta1, v1alpha3: VirtualService, DestinationRule, Gateway,
//     ServiceEntry, WorkloadEntry, Sidecar), security (v1, v1beta1:
//     PeerAuthentication, AuthorizationPolicy, RequestAuthentication) and
//     telemetry (v1, v1alpha1: Telemetry) kinds, "kind: List" documents, and
//     skips IstioOperator documents. Networking specs are always the v1alpha3
//     Go types. Unknown fields are errors; durations use Go's syntax ("1m30s")
//     as in Istio; a document over DefaultMaxDocumentBytes is not decoded.
//     Decode never panics; every problem is a *ConfigError naming the file,
//     document, kind/namespace/name and field. DecodeDefinitions decodes and
//     validates one named blob (a Consul key) as the Store does a file.
//   - Validate applies Istio's admission rules (webhook and CRD schema) to one
//     object; CheckReferences applies the rules that span objects (subsets
//     named by VirtualServices must exist). The weights of several route
//     destinations must add up to 100.
//   - A Config is immutable once built; readers may share it freely.
//   - The directory Store serves the last valid version of each object: an
//     object that becomes invalid keeps its previous version, a removed file
//     removes its objects, a file with one bad document still yields its good
//     ones, a file that cannot be parsed or read, or is over the size Limits
//     (per file, per document), keeps its objects, a file that had objects
//     and is found empty keeps them for EmptyFileGrace (an editor may be
//     rewriting it), and a vanished directory keeps the whole Config. Run
//     reloads on file changes and on Reload; a scan that could not read
//     everything keeps its watches and is retried with backoff.
//   - LoadPaths (LoadPathsWith, for other Limits) checks files and
//     directories once, for "isthmus validate", with the Store's rules.
//   - PeerMTLS resolves the PeerAuthentications that apply to a workload
//     into its mTLS mode, port by port, with Istio's precedence.
package policy
