// Package certs is Isthmus's certificate authority: SPIFFE workload
// identities, the CA that signs them, an Issuer that keeps one certificate
// per identity and renews it, and the Envoy SDS secrets built from them.
// It follows Istio's conventions so istio-proxy sidecars work unchanged.
//
// Identities. An Identity is spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT
// (DefaultTrustDomain is "cluster.local"). ParseSPIFFEID accepts exactly
// that form and rejects anything else with an error quoting the input.
//
// The CA. LoadCA reads Istio's cacerts layout from a directory: ca-cert.pem
// (the signing certificate), ca-key.pem (its key: PKCS#8, EC or RSA PEM),
// root-cert.pem (the trust bundle, optional when ca-cert.pem is self-signed)
// and cert-chain.pem (ca-cert.pem's chain towards the root, optional; a copy of
// ca-cert.pem and self-signed roots in it are ignored). It refuses, naming
// the file, a certificate that is not a CA, is expired or not yet valid, a key
// that does not match, or a CA certificate that does not chain to
// root-cert.pem. NewSelfSignedCA generates an ECDSA P-256 root with Subject
// O=TRUST_DOMAIN, as istiod's self-signed root; LoadOrCreateCA loads a
// directory or, when it holds none of the files or does not exist, writes a
// new self-signed root there (key 0600; a missing directory is created 0700
// whole, by rename, so processes starting together share one root) so
// restarts keep it. LoadOrCreateCA refuses a directory that group or others
// can write (CheckDirPrivate; a read-only mount, as Kubernetes mounts
// Secrets, passes) and a ca-key.pem that others can read.
//
// Workload certificates (CA.Issue) have a fresh ECDSA P-256 key, an empty
// Subject, the SPIFFE ID as their only SAN (a URI), key usage
// digitalSignature|keyEncipherment, extended key usage serverAuth+clientAuth,
// NotBefore set ClockSkew (2 minutes) in the past, and NotAfter capped at the
// CA's own expiry (CA.NotAfter, the earliest along its chain). The chain is the
// leaf, then for an intermediate CA ca-cert.pem and cert-chain.pem's
// intermediates; the root is never included (peers have it in ROOTCA). A CA
// only issues identities in its own trust domain. CA.SignCSR signs the same
// certificate over the public key of a certificate signing request instead
// (its signature must verify; ECDSA P-256/384/521, RSA 2048–8192 bits or
// Ed25519, else an error wrapping ErrInvalidCSR); nothing else of the request
// is used, so which identity a requester may have is the caller's decision.
//
// The Issuer. Issuer.Secrets(id) returns the two SDS secrets istio-proxy asks
// for: "default" (WorkloadSecretName, tls_certificate with the chain and key
// inline) and "ROOTCA" (RootSecretName, validation_context with the trust
// bundle inline). Each passes Validate. The certificate is issued on first
// call; concurrent first calls share one issuance. The workload secret is the
// same pointer until the certificate is renewed, and the root secret is one
// pointer for the Issuer's life, so callers may recognise and share them by
// pointer; nobody may modify them. Renewal happens only in RenewDue, which Run
// calls every CheckEvery: a certificate is renewed once RenewAt (default 0.5)
// of its lifetime has passed, then OnRotate receives the renewed identities in
// one sorted batch, on the goroutine calling RenewDue (Run's). A failed renewal keeps the current
// certificate and is retried at the next check. Secrets never renews, so
// without Run certificates expire. Retain drops identities no longer in use.
//
// Root rotation. Issuer.Rotate(ca) moves the Issuer to another CA of its
// trust domain without a moment when two proxies distrust each other: ca's
// roots join ROOTCA beside the old ones at once (OnRotate with every live
// identity, so every proxy gets the new bundle); RootTrustDelay later
// (default 1 minute) every certificate is re-issued from ca (OnRotate
// again); RootGrace after the last of them moved (default 5 minutes) ROOTCA
// shrinks to ca's roots (OnRotate again). A CA whose roots ROOTCA already
// holds (a new intermediate under the same root) signs at once. Rotating to
// the CA in use does nothing. Issuer.CA, RootsPEM, RootPool and SignCSR
// follow the rotation, so the Issuer serves as the CA API's signer and as
// client-certificate verifier.
//
// Certificates signed through the CA API (Issuer.SignCSR) are held by
// their workloads, not by the Issuer, and live as long as asked. As Istio's
// root rotation asks, a root stays trusted while certificates of it may be
// in use: the Issuer remembers, per CA, until when the certificates SignCSR signed
// with it are valid (one time per CA, not each certificate), and ROOTCA
// keeps the old roots until every such certificate of a CA whose roots
// leave has expired, as well as RootGrace (the wait is logged with its
// end). SignCSR signs from the signing CA up to the switch, for the full
// lifetime asked: certificates signed before the rotation began live that
// long anyway, so shortening those signed during the trust delay would not
// end the rotation sooner. The record is in memory: another process
// signing with the same CA (a replica) or a restart is not counted.
//
// Isthmus's own serving certificate (Issuer.ServingTLS) comes from
// Issuer.ServingCA: during a rotation, the CA that signed before it until
// its roots leave ROOTCA (unless it expired), so a client given only the
// old roots keeps verifying Isthmus while it learns the new ones; from the
// drop on, the signing CA, whose roots are then the only ones in ROOTCA
// and in what is published from RootsPEM (webhooks' caBundle, the
// istio-ca-root-cert ConfigMap).
//
// Issuer.FollowCADir rotates to the CA in a cacerts directory whenever its
// files' content changes (a Kubernetes Secret volume swapping ..data
// included), checked as at start (ReloadCA); a CA that does not load is
// logged and ignored, the current one signing on.
package certs
