// Package simulate follows a request through the resources Isthmus serves
// a proxy, as Envoy routes it, so that `isthmus explain --host --path`
// says which route and clusters a request would take without sending one.
//
// Contract:
//   - Route is pure: it reads only the resources given. The route
//     configuration is the one the proxy's outbound HTTP listener on the
//     request's port names (Istio names it by the port), the virtual host
//     the one whose domains match the request's authority with Envoy's
//     precedence (exact, then the longest suffix wildcard "*.x", then the
//     longest prefix wildcard "x.*", then "*"), and the route the first
//     whose match (path: prefix, exact path, path-separated prefix or
//     RE2 regex; method and headers: exact, prefix, suffix, contains,
//     regex, present, as invert-able string matchers) holds.
//   - The result names the route configuration, virtual host and route,
//     the clusters with their weights (a single cluster weighs 100), or
//     the direct response or redirect, and the VirtualService the route
//     came from (its Istio metadata).
//   - A request that matches nothing is an error saying what did not
//     match (no route configuration for the port, no virtual host for the
//     authority, no route for the path), as Envoy answers 404.
//   - Matchers Route does not understand (query parameters, runtime
//     fractions, dynamic metadata, gRPC or TLS context) make a route not
//     match, and the result lists them as skipped, so a simulation never
//     claims a route Envoy might not take.
package simulate
