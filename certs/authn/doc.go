// Package authn proves who a proxy is from the credentials of its gRPC
// call, so the secure xDS port and the CA service hand out only the
// identities a caller has proven, never the service account it merely names.
//
// Contract:
//   - An Authenticator reads the call's peer (google.golang.org/grpc/peer)
//     and incoming metadata from ctx and returns the proven certs.Identity,
//     or an *Error whose Reason says why not (ReasonOf reads it from any
//     error), so callers count refusals by reason. ReasonNoCredential means
//     the caller presented no credential of that kind; every other reason
//     means it presented one that does not hold. Implementations are safe
//     for concurrent use.
//   - CertAuthenticator: the TLS peer's certificate chain must verify
//     against the current mesh roots (a func, so roots may rotate), for
//     client authentication, at the time of the call, whatever the server's
//     tls.Config already checked; and the leaf must hold exactly one URI
//     SAN, a SPIFFE ID spiffe://TRUST_DOMAIN/ns/NS/sa/SA of the mesh's trust
//     domain, which is the identity. A plaintext connection, or TLS without
//     a client certificate, is ReasonNoCredential.
//   - TokenAuthenticator: the "authorization: Bearer JWT" metadata istio-agent
//     sends. The token is reviewed by the TokenReview API of the Kubernetes
//     cluster the caller names (clusterID, looked up by a func the caller
//     gives; an unknown cluster is refused) for the configured audiences
//     (default "istio-ca"); the API server must confirm one of them in the
//     review's status. The identity is the reviewed user
//     system:serviceaccount:NS:SA (in the system:serviceaccounts group) in
//     the configured trust domain. A review that fails (API error, timeout)
//     refuses: nothing is ever trusted without the API server's word.
//     Legacy tokens without an audience are refused, as istiod refuses them
//     with REQUIRE_3P_TOKEN. The cluster's client needs only to create
//     tokenreviews (authentication.k8s.io), as system:auth-delegator grants.
//     The token's claims are read without verification only to refuse
//     early, before any API call (not a JWT, expired, none of the audiences)
//     and to bound the cache: a positive review is cached (by cluster and a
//     hash of the token, at most CacheSize entries, least recently used
//     dropped first) until the token's own expiry, or CacheMaxAge when that
//     is sooner; a token without expiry is not cached, nor is any refusal.
//     So a service account deleted after a review keeps its identity for
//     the cache's lifetime of that token; set CacheMaxAge to bound it.
//   - Chain tries authenticators in order: the first whose credential is
//     present decides. A present but invalid credential is an error, never
//     a fall-through to the next; with none present the error is
//     ReasonNoCredential.
package authn
