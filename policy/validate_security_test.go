package policy

import "testing"

func TestValidatePeerAuthentication(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "namespace-wide strict", kind: KindPeerAuthentication, spec: "  mtls: {mode: STRICT}"},
		{name: "port level with selector", kind: KindPeerAuthentication, spec: "  selector: {matchLabels: {app: a}}\n  mtls: {mode: STRICT}\n  portLevelMtls: {8080: {mode: DISABLE}}"},
		{name: "port level without selector", kind: KindPeerAuthentication, spec: "  portLevelMtls: {8080: {mode: DISABLE}}", wantField: "spec.portLevelMtls"},
		{name: "port level port 0", kind: KindPeerAuthentication, spec: "  selector: {matchLabels: {app: a}}\n  portLevelMtls: {0: {mode: DISABLE}}", wantField: "spec.portLevelMtls[0]"},
		{name: "empty selector key", kind: KindPeerAuthentication, spec: "  selector: {matchLabels: {'': a}}", wantField: "spec.selector.matchLabels"},
	})
}

func TestValidateAuthorizationPolicy(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "allow with principals and paths", kind: KindAuthorizationPolicy, spec: `  selector: {matchLabels: {app: backend}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/frontend/sa/frontend]}}]
    to: [{operation: {methods: [GET], paths: [/api/v1/*, '/static/{**}']}}]
    when: [{key: 'request.headers[x-tenant]', values: [a]}, {key: source.ip, notValues: [10.0.0.0/8]}]`},
		{name: "allow nothing", kind: KindAuthorizationPolicy, spec: "  {}"},
		{name: "deny without rules", kind: KindAuthorizationPolicy, spec: "  action: DENY", wantField: "spec.rules"},
		{name: "deny all", kind: KindAuthorizationPolicy, spec: "  action: DENY\n  rules: [{}]"},
		{name: "custom needs provider", kind: KindAuthorizationPolicy, spec: "  action: CUSTOM\n  rules: [{}]", wantField: "spec.provider.name"},
		{name: "custom with principals", kind: KindAuthorizationPolicy, spec: "  action: CUSTOM\n  provider: {name: ext-authz}\n  rules: [{from: [{source: {principals: [a]}}]}]", wantField: "spec.rules[0].from[0].source.principals"},
		{name: "provider without custom", kind: KindAuthorizationPolicy, spec: "  provider: {name: ext-authz}\n  rules: [{}]", wantField: "spec.provider"},
		{name: "empty principal", kind: KindAuthorizationPolicy, spec: "  rules: [{from: [{source: {principals: ['']}}]}]", wantField: "spec.rules[0].from[0].source.principals[0]"},
		{name: "empty method", kind: KindAuthorizationPolicy, spec: "  rules: [{to: [{operation: {methods: ['']}}]}]", wantField: "spec.rules[0].to[0].operation.methods[0]"},
		{name: "empty source", kind: KindAuthorizationPolicy, spec: "  rules: [{from: [{source: {}}]}]", wantField: "spec.rules[0].from[0].source"},
		{name: "missing source", kind: KindAuthorizationPolicy, spec: "  rules: [{from: [{}]}]", wantField: "spec.rules[0].from[0].source"},
		{name: "empty operation", kind: KindAuthorizationPolicy, spec: "  rules: [{to: [{operation: {}}]}]", wantField: "spec.rules[0].to[0].operation"},
		{name: "bad ip block", kind: KindAuthorizationPolicy, spec: "  rules: [{from: [{source: {ipBlocks: [300.0.0.1]}}]}]", wantField: "spec.rules[0].from[0].source.ipBlocks[0]"},
		{name: "bad port", kind: KindAuthorizationPolicy, spec: "  rules: [{to: [{operation: {ports: ['http']}}]}]", wantField: "spec.rules[0].to[0].operation.ports[0]"},
		{name: "bad path template", kind: KindAuthorizationPolicy, spec: "  rules: [{to: [{operation: {paths: ['/{*}/x/{name}']}}]}]", wantField: "spec.rules[0].to[0].operation.paths[0]"},
		{name: "unknown when key", kind: KindAuthorizationPolicy, spec: "  rules: [{when: [{key: request.colour, values: [red]}]}]", wantField: "spec.rules[0].when[0].key"},
		{name: "when without values", kind: KindAuthorizationPolicy, spec: "  rules: [{when: [{key: source.namespace}]}]", wantField: "spec.rules[0].when[0]"},
		{name: "when header key form", kind: KindAuthorizationPolicy, spec: "  rules: [{when: [{key: request.headers, values: [a]}]}]", wantField: "spec.rules[0].when[0].key"},
		{name: "trust domains only", kind: KindAuthorizationPolicy, spec: "  rules: [{from: [{source: {trustDomains: [example.org]}}]}]"},
		{name: "service accounts with principals", kind: KindAuthorizationPolicy, spec: "  rules: [{from: [{source: {serviceAccounts: [ns/sa], principals: [x]}}]}]", wantField: "spec.rules[0].from[0].source"},
		{name: "selector and targetRef", kind: KindAuthorizationPolicy, spec: "  selector: {matchLabels: {app: a}}\n  targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}", wantField: "spec"},
		{name: "targetRef kind", kind: KindAuthorizationPolicy, spec: "  targetRef: {kind: Deployment, group: apps, name: d}", wantField: "spec.targetRef"},
		{name: "dry-run", kind: KindAuthorizationPolicy, spec: "  action: DENY\n  rules: [{}]", meta: "  annotations: {istio.io/dry-run: 'true'}\n"},
		{name: "dry-run value", kind: KindAuthorizationPolicy, spec: "  action: DENY\n  rules: [{}]", meta: "  annotations: {istio.io/dry-run: 'maybe'}\n", wantField: "metadata.annotations[istio.io/dry-run]"},
	})
}

func TestValidateRequestAuthentication(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "jwt rule", kind: KindRequestAuthentication, spec: "  selector: {matchLabels: {app: a}}\n  jwtRules: [{issuer: 'https://issuer.example.com', jwksUri: 'https://issuer.example.com/jwks.json', audiences: [api], fromHeaders: [{name: Authorization, prefix: 'Bearer '}], outputClaimToHeaders: [{header: x-sub, claim: sub}]}]"},
		{name: "issuer required", kind: KindRequestAuthentication, spec: "  jwtRules: [{jwksUri: 'https://a.example.com/jwks'}]", wantField: "spec.jwtRules[0].issuer"},
		{name: "jwksUri scheme", kind: KindRequestAuthentication, spec: "  jwtRules: [{issuer: a, jwksUri: 'ftp://a.example.com/jwks'}]", wantField: "spec.jwtRules[0].jwksUri"},
		{name: "jwksUri port", kind: KindRequestAuthentication, spec: "  jwtRules: [{issuer: a, jwksUri: 'https://a.example.com:99999/jwks'}]", wantField: "spec.jwtRules[0].jwksUri"},
		{name: "jwks and jwksUri", kind: KindRequestAuthentication, spec: "  jwtRules: [{issuer: a, jwksUri: 'https://a.example.com/jwks', jwks: '{\"keys\": [{\"kty\": \"RSA\"}]}'}]", wantField: "spec.jwtRules[0].jwks"},
		{name: "jwks inline", kind: KindRequestAuthentication, spec: "  jwtRules: [{issuer: a, jwks: '{\"keys\": [{\"kty\": \"RSA\", \"n\": \"x\", \"e\": \"AQAB\"}]}'}]"},
		{name: "jwks malformed", kind: KindRequestAuthentication, spec: "  jwtRules: [{issuer: a, jwks: 'not json'}]", wantField: "spec.jwtRules[0].jwks"},
		{name: "empty audience", kind: KindRequestAuthentication, spec: "  jwtRules: [{issuer: a, audiences: ['']}]", wantField: "spec.jwtRules[0].audiences[0]"},
		{name: "output header name", kind: KindRequestAuthentication, spec: "  jwtRules: [{issuer: a, outputClaimToHeaders: [{header: 'x y', claim: sub}]}]", wantField: "spec.jwtRules[0].outputClaimToHeaders[0].header"},
		{name: "from header name", kind: KindRequestAuthentication, spec: "  jwtRules: [{issuer: a, fromHeaders: [{prefix: x}]}]", wantField: "spec.jwtRules[0].fromHeaders[0]"},
	})
}

func TestValidateTelemetry(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "tracing and metrics", kind: KindTelemetry, spec: "  tracing: [{providers: [{name: otel}], randomSamplingPercentage: 10, customTags: {env: {literal: {value: prod}}}}]\n  metrics: [{providers: [{name: prometheus}], overrides: [{match: {metric: REQUEST_COUNT}, tagOverrides: {request_protocol: {operation: REMOVE}}}]}]\n  accessLogging: [{providers: [{name: envoy}]}]"},
		{name: "sampling range", kind: KindTelemetry, spec: "  tracing: [{randomSamplingPercentage: 101}]", wantField: "spec.tracing[0].randomSamplingPercentage"},
		{name: "provider name", kind: KindTelemetry, spec: "  accessLogging: [{providers: [{}]}]", wantField: "spec.accessLogging[0].providers[0].name"},
		{name: "upsert needs value", kind: KindTelemetry, spec: "  metrics: [{overrides: [{tagOverrides: {a: {operation: UPSERT}}}]}]", wantField: "spec.metrics[0].overrides[0].tagOverrides[a].value"},
		{name: "remove with value", kind: KindTelemetry, spec: "  metrics: [{overrides: [{tagOverrides: {a: {operation: REMOVE, value: x}}}]}]", wantField: "spec.metrics[0].overrides[0].tagOverrides[a].value"},
		{name: "empty literal", kind: KindTelemetry, spec: "  tracing: [{customTags: {a: {literal: {value: ''}}}}]", wantField: "spec.tracing[0].customTags[a].literal.value"},
		{name: "custom tag type", kind: KindTelemetry, spec: "  tracing: [{customTags: {a: {}}}]", wantField: "spec.tracing[0].customTags[a]"},
	})
}
