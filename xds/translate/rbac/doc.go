// Package rbac turns Istio AuthorizationPolicies and RequestAuthentications
// (security.istio.io, already decoded and validated by package policy) into
// Envoy RBAC and JWT filters for the inbound traffic of one sidecar
// workload, with the behaviour Istio documents.
//
// Contract:
//   - For selects the AuthorizationPolicies of a workload, and
//     RequestAuthenticationsFor its RequestAuthentications: those in its
//     namespace or in the root namespace (istio-system) whose selector is
//     empty or matches the workload's labels; a root-namespace selector
//     matches in every namespace. Policies with targetRef/targetRefs
//     (gateways, waypoints) are skipped. The result is sorted by namespace,
//     then name.
//   - JWTFilter returns one envoy.filters.http.jwt_authn filter for all the
//     jwtRules of the selected RequestAuthentications (nil when there are
//     none); it must run before the RBAC filters. As in Istio: the rules are
//     ordered by issuer and become providers "origins-N"; a request without
//     a token passes (authorization decides); a token that fails
//     verification (malformed, signature, unknown issuer, expired) gets 401,
//     one whose audience is not listed 403 from the JWT filter; the
//     verified payload is stored in dynamic metadata under filter
//     envoy.filters.http.jwt_authn, key "payload", with "scope",
//     "permission" and spaceDelimitedClaims split into lists; CORS
//     preflights bypass it. Inline jwks is used as given; a jwksUri is
//     fetched by Envoy (5 s timeout unless the rule sets one, cached 5 min)
//     through cluster "outbound|PORT||HOST" of the URI (port 80/443 by
//     default), which JWKSClusters returns (STATIC for an IP host,
//     LOGICAL_DNS otherwise, TLS for https verified against
//     /etc/ssl/certs/ca-certificates.crt and the host). A rule with neither
//     (OpenID discovery, which Isthmus does not do) gets a key set nobody
//     can sign for: its tokens get 401, as in Istio when istiod cannot
//     fetch the keys.
//   - HTTPFilters returns envoy.filters.http.rbac filters for inbound HTTP
//     chains (after JWTFilter's, before fault, CORS and the router); NetworkFilters returns
//     envoy.filters.network.rbac filters (stat_prefix "tcp.") for inbound TCP
//     chains (before tcp_proxy). Both return nil when no policy applies, and
//     otherwise one filter per action present, in the order Envoy must run
//     them: CUSTOM, AUDIT, DENY, ALLOW. Output is a pure function of the
//     input, deterministic, and passes Envoy's Validate.
//   - Evaluation is Istio's: a request matching a DENY rule is denied (403
//     for HTTP, body "RBAC: access denied"; the connection is closed for
//     TCP); else, if ALLOW policies apply and none matches, it is denied;
//     else allowed. An ALLOW policy with no rules matches nothing (denies
//     all); a rule {} matches everything.
//   - Each rule becomes the RBAC policy "ns[NS]-policy[NAME]-rule[I]" (a
//     policy without rules gets "…-rule[0]", which never matches). from
//     (any source), to (any operation) and when (all conditions) are ANDed;
//     within a source or operation the set fields are ANDed, the values of a
//     field ORed, and not* values negated.
//   - Strings follow Istio: "*" is presence, "abc*" prefix, "*abc" suffix,
//     else exact. principals and source.principal match the certificate's
//     SPIFFE identity (spiffe:// prepended; "*" is any authenticated peer);
//     a principal in the "cluster.local" trust domain stands for the mesh's
//     trust domain. namespaces/source.namespace match ".*/ns/NS/.*" of the
//     identity, serviceAccounts and source.serviceAccount "NS/SA" (or "SA" in
//     the policy's namespace), trustDomains its trust domain. A plaintext
//     caller matches none of these values (it does match their not* forms).
//   - ipBlocks and source.ip match the connection's peer address
//     (direct_remote_ip), remoteIpBlocks and remote.ip the original client
//     (remote_ip), ports and destination.port the destination port,
//     destination.ip the destination address, connection.sni the SNI.
//   - hosts match :authority case-insensitively and exactly as written, as in
//     Istio: "example.com" does not match "example.com:8080"; list
//     "example.com:*" too. methods match :method, request.headers[NAME] a
//     header, paths the path without query (Istio's {*} and {**} templates
//     become Envoy URI templates). experimental.envoy.filters.F[K] matches
//     dynamic metadata as in Istio.
//   - requestPrincipals and request.auth.principal ("ISS/SUB", split at the
//     last "/"; "*" any verified token, "*X" and "X*" suffix and prefix
//     forms as in Istio), request.auth.audiences (aud), .presenter (azp) and
//     .claims[NAME] (nested: [A][B]) match the JWT payload in dynamic
//     metadata; a claim matches as a string or as a list holding the value.
//     A request without a verified token matches none of them (it does
//     match their not* forms).
//   - Fail closed. A value that cannot be evaluated — an HTTP attribute
//     (hosts, methods, paths, request.headers, requestPrincipals,
//     request.auth.*) on a TCP filter — drops its whole rule in an ALLOW
//     policy (allows less) and only itself in DENY, AUDIT and CUSTOM rules
//     (they match more; a DENY rule left with no constraint denies
//     everything on that chain, as Istio documents for TCP).
//   - AUDIT policies become an RBAC filter with action LOG: it never denies,
//     it only sets Envoy's access-log hint; Isthmus configures no audit sink.
//   - CUSTOM policies need an external authorizer, which Isthmus does not
//     configure: their rules deny, as an unreachable authorizer would (ext_authz
//     fails closed). Their RBAC policy names start with "istio-ext-authz-".
//   - The istio.io/dry-run: "true" annotation puts an ALLOW or DENY policy in
//     shadow_rules (stat prefix istio_dry_run_allow_ / istio_dry_run_deny_):
//     evaluated and counted, never enforced. Only dry-run ALLOW policies
//     therefore leave traffic allowed.
package rbac
