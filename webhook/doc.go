// Package webhook is Isthmus's validating admission webhook, istiod's
// "validation.istio.io": the Kubernetes API server sends it every Istio
// object being created or updated, and an object Isthmus would refuse is
// refused at `kubectl apply`, with the reason.
//
// Contract:
//   - Handler serves admission.k8s.io/v1 (and v1beta1, same shape)
//     AdmissionReview POSTs at Path ("/validate", as istiod). The object is
//     decoded by policy.Decode, as a file's document is, whatever Istio kind
//     and served version it comes at, and checked by policy.Validate.
//   - An invalid object is answered allowed=false with a Status of reason
//     Invalid, code 422, a message naming kind, namespace/name, field and
//     problem ("VirtualService shop/reviews: spec.http[0]...: ..."), and one
//     cause per problem. A valid object is allowed, and so are DELETE and
//     CONNECT operations, requests without an object, and kinds Isthmus
//     does not read (a kind it reads at a version it does not know is
//     allowed with a warning).
//   - A request that is not an AdmissionReview with a request (bad JSON,
//     other kind) is HTTP 400, a body over MaxBodyBytes 413, a method other
//     than POST 405; the handler never panics on a body.
//   - AdmissionHandler is the same request handling around another
//     decision (the injection webhook, package inject, uses it).
//   - NewServer is an http.Server for the handler with read, write and idle
//     timeouts; TLS comes from the caller (isthmus serve: a certificate from
//     the mesh CA, whose root is the webhook configuration's caBundle).
package webhook
