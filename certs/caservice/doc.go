// Package caservice is Isthmus's CA API: Istio's
// istio.v1.auth.IstioCertificateService/CreateCertificate (istio.io/api
// security/v1alpha1), which istio-agent calls to have the private key it
// keeps signed into a workload certificate.
//
// Contract of CreateCertificate, as istiod's, stricter where noted:
//   - The caller is authenticated first (an authn.Authenticator, given the
//     cluster the caller names in its "ClusterID" metadata, which gRPC
//     delivers as ClusterIDMetadata); nothing of the request is read before.
//     A refusal is Unauthenticated, telling the caller the reason only.
//   - The CSR (csr, PEM "CERTIFICATE REQUEST", at most MaxCSRBytes) must
//     parse and its signature verify; its key must be one the CA signs
//     (certs.CA.SignCSR). At most MaxSANs SANs. Otherwise InvalidArgument.
//   - Every URI SAN of the CSR must be the SPIFFE ID the caller proved, and
//     the CSR may hold no DNS, IP or email SAN; the proven identity must be
//     in the CA's trust domain. Otherwise PermissionDenied. (istiod ignores
//     the CSR's SANs; Isthmus refuses a CSR asking for anything else.) A CSR
//     without SANs is signed for the proven identity.
//   - The certificate holds the proven SPIFFE ID as its only SAN and the
//     CSR's public key, and lives validity_duration seconds (0 or less:
//     certs.DefaultWorkloadTTL), capped at Options.MaxTTL and at the CA's
//     own expiry. (istiod refuses a request above its maximum; Isthmus
//     shortens it.) It is signed by the Signer's current CA; a
//     certs.Issuer keeps that CA's roots trusted across a root rotation
//     until the certificate expires (see package certs).
//   - cert_chain is the leaf, then the CA's intermediates in order, one PEM
//     certificate per element, then last the whole trust bundle in one
//     element, the root the chain ends at first; each element ends in a
//     newline. As istiod, which sends its root-cert.pem there: istio-agent
//     gives its proxy that last element as ROOTCA, so during a root
//     rotation it must hold the old and the new roots, or a proxy
//     renewing from one CA would stop trusting peers holding the other's.
//   - Every refusal is a gRPC status to that caller only; it is logged at
//     WARN at most once per Options.LogEvery for each kind of refusal (with
//     the number held back), and counted. Service is a prometheus.Collector:
//     isthmus_ca_requests_total{result,reason}, result one of signed,
//     unauthenticated, invalid_argument, permission_denied, internal;
//     reason the authn reason or the kind of refusal.
package caservice
