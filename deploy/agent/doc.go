// Package agent gets a plain Envoy (one Isthmus bootstraps, with no
// istio-agent beside it) its first workload credential from Isthmus's CA
// API and keeps it fresh, so that the Envoy can connect to the secure port
// (isthmus bootstrap --xds-client-cert/--xds-client-key/--xds-root-cert).
//
// Contract:
//   - The workload proves itself with the pod's projected service-account
//     token (Options.TokenFile, default DefaultTokenFile, as istio-agent
//     reads it), read again for every request, since the kubelet rotates it.
//   - The identity asked for is spiffe://TRUST_DOMAIN/ns/NS/sa/SA: the
//     namespace and service account given, or else read (unverified) from
//     the token's "sub" claim system:serviceaccount:NS:SA. The CA checks
//     the token and refuses any other identity, so the claims are only a
//     convenience.
//   - Each request generates a fresh ECDSA P-256 key and a CSR whose only
//     SAN is that SPIFFE ID, and calls
//     istio.v1.auth.IstioCertificateService/CreateCertificate over TLS, as
//     istio-agent does: "authorization: Bearer TOKEN" and "ClusterID"
//     metadata, validity_duration Options.TTL. Isthmus's certificate must
//     verify against the mesh roots (Options.RootCertFile, read for every
//     request) for Options.ServerName.
//   - The answer is checked before anything is written: the leaf's key is
//     the one generated, its only URI SAN is the identity asked for, it is
//     valid now, and its chain verifies against the mesh roots for client
//     authentication. Then OutputDir receives CertChainFile (leaf and
//     intermediates, no root), KeyFile (PKCS#8, mode 0600) and RootCertFile
//     (the mesh roots as read) as the kubelet writes a projected volume
//     (WriteFiles): into a new subdirectory ..TIMESTAMP.RANDOM, then the
//     DataLink symbolic link ..data is renamed onto it and the previous
//     subdirectory removed; the three names are links through ..data. A
//     reader sees the old set or the new one, never a key beside another
//     key's certificate, and an Envoy whose bootstrap watches OutputDir
//     (isthmus bootstrap's file-based SDS) reloads on the rename. A
//     refused or bad answer writes nothing.
//   - Run renews at half of the certificate's remaining lifetime when it was
//     received (from its NotBefore if later), retrying failures with
//     exponential backoff (Options.MinRetry doubling up to MaxRetry),
//     logging each with slog, until its context ends. Fetch is one attempt.
package agent
