package policy

import "testing"

// vs builds a VirtualService spec with hosts [reviews] and one http route.
func vsHTTP(route string) string {
	return "  hosts: [reviews]\n  http:\n  - " + route
}

const oneDest = "route: [{destination: {host: reviews}}]"

func TestValidateVirtualService(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "minimal", kind: KindVirtualService, spec: vsHTTP(oneDest)},
		{name: "split 75/25", kind: KindVirtualService, spec: vsHTTP("route: [{destination: {host: reviews, subset: v1}, weight: 75}, {destination: {host: reviews, subset: v2}, weight: 25}]")},
		{name: "weights must add to 100", kind: KindVirtualService, spec: vsHTTP("route: [{destination: {host: a}, weight: 80}, {destination: {host: b}, weight: 30}]"), wantField: "spec.http[0].route"},
		{name: "several destinations all weight 0", kind: KindVirtualService, spec: vsHTTP("route: [{destination: {host: a}}, {destination: {host: b}}]"), wantField: "spec.http[0].route"},
		{name: "negative weight", kind: KindVirtualService, spec: vsHTTP("route: [{destination: {host: a}, weight: -1}, {destination: {host: b}, weight: 101}]"), wantField: "spec.http[0].route[0].weight"},
		{name: "destination required", kind: KindVirtualService, spec: vsHTTP("route: [{weight: 100}]"), wantField: "spec.http[0].route[0].destination"},
		{name: "destination host required", kind: KindVirtualService, spec: vsHTTP("route: [{destination: {subset: v1}}]"), wantField: "spec.http[0].route[0].destination.host"},
		{name: "destination host *", kind: KindVirtualService, spec: vsHTTP("route: [{destination: {host: '*'}}]"), wantField: "spec.http[0].route[0].destination.host"},
		{name: "destination port range", kind: KindVirtualService, spec: vsHTTP("route: [{destination: {host: a, port: {number: 70000}}}]"), wantField: "spec.http[0].route[0].destination.port.number"},
		{name: "subset not a DNS label", kind: KindVirtualService, spec: vsHTTP("route: [{destination: {host: a, subset: V_1}}]"), wantField: "spec.http[0].route[0].destination.subset"},
		{name: "no hosts but gateways", kind: KindVirtualService, spec: "  gateways: [gw]\n  http:\n  - " + oneDest, wantField: "spec.gateways"},
		{name: "delegate without hosts", kind: KindVirtualService, spec: "  http:\n  - " + oneDest},
		{name: "bad host", kind: KindVirtualService, spec: "  hosts: [bad_host]\n  http:\n  - " + oneDest, wantField: "spec.hosts[0]"},
		{name: "wildcard host", kind: KindVirtualService, spec: "  hosts: ['*.example.com']\n  http:\n  - " + oneDest},
		{name: "* for mesh", kind: KindVirtualService, spec: "  hosts: ['*']\n  http:\n  - " + oneDest, wantField: "spec.hosts[0]"},
		{name: "* for gateway", kind: KindVirtualService, spec: "  hosts: ['*']\n  gateways: [istio-system/ingress]\n  http:\n  - " + oneDest},
		{name: "* for gateway and mesh", kind: KindVirtualService, spec: "  hosts: ['*']\n  gateways: [ingress, mesh]\n  http:\n  - " + oneDest, wantField: "spec.hosts[0]"},
		{name: "duplicate hosts", kind: KindVirtualService, spec: "  hosts: ['*.example.com', a.example.com]\n  http:\n  - " + oneDest, wantField: "spec.hosts[1]"},
		{name: "IP host", kind: KindVirtualService, spec: "  hosts: [10.0.0.1]\n  http:\n  - " + oneDest},
		{name: "bad gateway name", kind: KindVirtualService, spec: "  hosts: [a]\n  gateways: [ns/Bad_Name]\n  http:\n  - " + oneDest, wantField: "spec.gateways[0]"},
		{name: "no routes", kind: KindVirtualService, spec: "  hosts: [a]", wantField: "spec"},
		{name: "route needs an action", kind: KindVirtualService, spec: vsHTTP("timeout: 1s"), wantField: "spec.http[0]"},
		{name: "route and redirect", kind: KindVirtualService, spec: vsHTTP("{redirect: {uri: /x}, " + oneDest + "}"), wantField: "spec.http[0]"},
		{name: "redirect alone", kind: KindVirtualService, spec: vsHTTP("redirect: {uri: /new, redirectCode: 301}")},
		{name: "redirect empty", kind: KindVirtualService, spec: vsHTTP("redirect: {redirectCode: 301}"), wantField: "spec.http[0].redirect"},
		{name: "redirect code", kind: KindVirtualService, spec: vsHTTP("redirect: {uri: /x, redirectCode: 200}"), wantField: "spec.http[0].redirect.redirectCode"},
		{name: "redirect scheme", kind: KindVirtualService, spec: vsHTTP("redirect: {scheme: ftp}"), wantField: "spec.http[0].redirect.scheme"},
		{name: "redirect with rewrite", kind: KindVirtualService, spec: vsHTTP("{redirect: {uri: /x}, rewrite: {uri: /y}}"), wantField: "spec.http[0].rewrite"},
		{name: "delegate with route", kind: KindVirtualService, spec: vsHTTP("{delegate: {name: child}, " + oneDest + "}"), wantField: "spec.http[0].delegate"},
		{name: "delegate alone", kind: KindVirtualService, spec: vsHTTP("delegate: {name: child, namespace: other}")},
		{name: "direct response", kind: KindVirtualService, spec: vsHTTP("directResponse: {status: 503, body: {string: down}}")},
		{name: "direct response status", kind: KindVirtualService, spec: vsHTTP("directResponse: {status: 99}"), wantField: "spec.http[0].directResponse.status"},
		{name: "timeout", kind: KindVirtualService, spec: vsHTTP("{timeout: 1.5s, " + oneDest + "}")},
		{name: "timeout below 1ms", kind: KindVirtualService, spec: vsHTTP("{timeout: 0.0001s, " + oneDest + "}"), wantField: "spec.http[0].timeout"},
		{name: "timeout sub-ms precision", kind: KindVirtualService, spec: vsHTTP("{timeout: 1.0005s, " + oneDest + "}"), wantField: "spec.http[0].timeout"},
		{name: "retries", kind: KindVirtualService, spec: vsHTTP("{retries: {attempts: 3, perTryTimeout: 2s, retryOn: 'gateway-error,connect-failure,503'}, " + oneDest + "}")},
		{name: "retries negative", kind: KindVirtualService, spec: vsHTTP("{retries: {attempts: -1}, " + oneDest + "}"), wantField: "spec.http[0].retries.attempts"},
		{name: "retries 0 with settings", kind: KindVirtualService, spec: vsHTTP("{retries: {attempts: 0, retryOn: 5xx}, " + oneDest + "}"), wantField: "spec.http[0].retries.attempts"},
		{name: "retryOn unknown", kind: KindVirtualService, spec: vsHTTP("{retries: {attempts: 2, retryOn: '5xx,sometimes'}, " + oneDest + "}"), wantField: "spec.http[0].retries.retryOn"},
		{name: "retryOn bad status", kind: KindVirtualService, spec: vsHTTP("{retries: {attempts: 2, retryOn: '999'}, " + oneDest + "}"), wantField: "spec.http[0].retries.retryOn"},
		{name: "perTryTimeout 0", kind: KindVirtualService, spec: vsHTTP("{retries: {attempts: 2, perTryTimeout: 0s}, " + oneDest + "}"), wantField: "spec.http[0].retries.perTryTimeout"},
		{name: "uri prefix, header exact, query regex", kind: KindVirtualService, spec: vsHTTP("{match: [{uri: {prefix: /api}, headers: {x-user: {exact: jason}}, queryParams: {v: {regex: '^[0-9]+$'}}}], " + oneDest + "}")},
		{name: "bad uri regex", kind: KindVirtualService, spec: vsHTTP("{match: [{uri: {regex: '(a'}}], " + oneDest + "}"), wantField: "spec.http[0].match[0].uri.regex"},
		{name: "RE2 rejects backreference", kind: KindVirtualService, spec: vsHTTP("{match: [{uri: {regex: '(a)\\1'}}], " + oneDest + "}"), wantField: "spec.http[0].match[0].uri.regex"},
		{name: "empty header prefix", kind: KindVirtualService, spec: vsHTTP("{match: [{headers: {x-a: {prefix: ''}}}], " + oneDest + "}"), wantField: "spec.http[0].match[0].headers[x-a].prefix"},
		{name: "header present match", kind: KindVirtualService, spec: vsHTTP("{match: [{headers: {x-a: {}}}], " + oneDest + "}")},
		{name: "bad header name", kind: KindVirtualService, spec: vsHTTP("{match: [{headers: {'x a': {exact: b}}}], " + oneDest + "}"), wantField: "spec.http[0].match[0].headers[x a]"},
		{name: "bad query regex", kind: KindVirtualService, spec: vsHTTP("{match: [{queryParams: {q: {regex: '['}}}], " + oneDest + "}"), wantField: "spec.http[0].match[0].queryParams[q].regex"},
		{name: "JWT claim routing needs gateway", kind: KindVirtualService, spec: vsHTTP("{match: [{headers: {'@request.auth.claims.group': {exact: a}}}], " + oneDest + "}"), wantField: "spec.http[0].match[0].headers[@request.auth.claims.group]"},
		{name: "match port", kind: KindVirtualService, spec: vsHTTP("{match: [{port: 0}, {port: 65536}], " + oneDest + "}"), wantField: "spec.http[0].match[1].port"},
		{name: "match sourceNamespace", kind: KindVirtualService, spec: vsHTTP("{match: [{sourceNamespace: Bad}], " + oneDest + "}"), wantField: "spec.http[0].match[0].sourceNamespace"},
		{name: "fault", kind: KindVirtualService, spec: vsHTTP("{fault: {delay: {fixedDelay: 5s, percentage: {value: 10}}, abort: {httpStatus: 503, percentage: {value: 0.5}}}, " + oneDest + "}")},
		{name: "fault empty", kind: KindVirtualService, spec: vsHTTP("{fault: {}, " + oneDest + "}"), wantField: "spec.http[0].fault"},
		{name: "fault abort status", kind: KindVirtualService, spec: vsHTTP("{fault: {abort: {httpStatus: 600}}, " + oneDest + "}"), wantField: "spec.http[0].fault.abort.httpStatus"},
		{name: "fault abort percentage", kind: KindVirtualService, spec: vsHTTP("{fault: {abort: {httpStatus: 500, percentage: {value: 101}}}, " + oneDest + "}"), wantField: "spec.http[0].fault.abort.percentage.value"},
		{name: "fault grpc status", kind: KindVirtualService, spec: vsHTTP("{fault: {abort: {grpcStatus: SOMETIMES}}, " + oneDest + "}"), wantField: "spec.http[0].fault.abort.grpcStatus"},
		{name: "fault delay duration", kind: KindVirtualService, spec: vsHTTP("{fault: {delay: {fixedDelay: 0s}}, " + oneDest + "}"), wantField: "spec.http[0].fault.delay.fixedDelay"},
		{name: "rewrite", kind: KindVirtualService, spec: vsHTTP("{rewrite: {uri: /v2, authority: b.example.com}, " + oneDest + "}")},
		{name: "rewrite empty", kind: KindVirtualService, spec: vsHTTP("{rewrite: {}, " + oneDest + "}"), wantField: "spec.http[0].rewrite"},
		{name: "rewrite uri and regex", kind: KindVirtualService, spec: vsHTTP("{rewrite: {uri: /a, uriRegexRewrite: {match: a, rewrite: b}}, " + oneDest + "}"), wantField: "spec.http[0].rewrite"},
		{name: "rewrite bad regex", kind: KindVirtualService, spec: vsHTTP("{rewrite: {uriRegexRewrite: {match: '(', rewrite: b}}, " + oneDest + "}"), wantField: "spec.http[0].rewrite.uriRegexRewrite.match"},
		{name: "mirror", kind: KindVirtualService, spec: vsHTTP("{mirror: {host: shadow}, mirrorPercentage: {value: 50}, " + oneDest + "}")},
		{name: "mirror without host", kind: KindVirtualService, spec: vsHTTP("{mirror: {subset: v1}, " + oneDest + "}"), wantField: "spec.http[0].mirror.host"},
		{name: "mirror percentage", kind: KindVirtualService, spec: vsHTTP("{mirror: {host: shadow}, mirrorPercentage: {value: 120}, " + oneDest + "}"), wantField: "spec.http[0].mirrorPercentage.value"},
		{name: "mirror and mirrors", kind: KindVirtualService, spec: vsHTTP("{mirror: {host: a}, mirrors: [{destination: {host: b}}], " + oneDest + "}"), wantField: "spec.http[0].mirrors"},
		{name: "mirrors percentage", kind: KindVirtualService, spec: vsHTTP("{mirrors: [{destination: {host: b}, percentage: {value: -1}}], " + oneDest + "}"), wantField: "spec.http[0].mirrors[0].percentage.value"},
		{name: "cors", kind: KindVirtualService, spec: vsHTTP("{corsPolicy: {allowOrigins: [{exact: 'https://a.example.com'}], allowMethods: [GET, POST], allowHeaders: ['*', x-a], maxAge: 24h}, " + oneDest + "}")},
		{name: "cors method", kind: KindVirtualService, spec: vsHTTP("{corsPolicy: {allowMethods: [FETCH]}, " + oneDest + "}"), wantField: "spec.http[0].corsPolicy.allowMethods[0]"},
		{name: "cors empty origin", kind: KindVirtualService, spec: vsHTTP("{corsPolicy: {allowOrigins: [{exact: ''}]}, " + oneDest + "}"), wantField: "spec.http[0].corsPolicy.allowOrigins[0]"},
		{name: "cors maxAge seconds", kind: KindVirtualService, spec: vsHTTP("{corsPolicy: {maxAge: 1.5s}, " + oneDest + "}"), wantField: "spec.http[0].corsPolicy.maxAge"},
		{name: "header operations", kind: KindVirtualService, spec: vsHTTP("{headers: {request: {set: {x-a: b, ':authority': c}}, response: {remove: [x-b]}}, " + oneDest + "}")},
		{name: "response cannot set host", kind: KindVirtualService, spec: vsHTTP("{headers: {response: {set: {host: x}}}, " + oneDest + "}"), wantField: "spec.http[0].headers.response.set[host]"},
		{name: "header value percent", kind: KindVirtualService, spec: vsHTTP("{headers: {request: {add: {x-a: '100%'}}}, " + oneDest + "}"), wantField: "spec.http[0].headers.request.add[x-a]"},
		{name: "tcp route", kind: KindVirtualService, spec: "  hosts: [db]\n  tcp:\n  - match: [{port: 5432, destinationSubnets: [10.0.0.0/8]}]\n    route: [{destination: {host: db, port: {number: 5432}}}]"},
		{name: "tcp route without destinations", kind: KindVirtualService, spec: "  hosts: [db]\n  tcp:\n  - match: [{port: 5432}]", wantField: "spec.tcp[0].route"},
		{name: "tcp subnet", kind: KindVirtualService, spec: "  hosts: [db]\n  tcp:\n  - match: [{destinationSubnets: [10.0.0.0/33]}]\n    route: [{destination: {host: db}}]", wantField: "spec.tcp[0].match[0].destinationSubnets[0]"},
		{name: "tcp weights all zero", kind: KindVirtualService, spec: "  hosts: [db]\n  tcp:\n  - route: [{destination: {host: a}}, {destination: {host: b}}]", wantField: "spec.tcp[0].route"},
		{name: "tls route", kind: KindVirtualService, spec: "  hosts: ['*.example.com']\n  tls:\n  - match: [{sniHosts: [a.example.com], port: 443}]\n    route: [{destination: {host: a.example.com}}]"},
		{name: "tls sni not covered", kind: KindVirtualService, spec: "  hosts: [a.example.com]\n  tls:\n  - match: [{sniHosts: [b.example.com]}]\n    route: [{destination: {host: b}}]", wantField: "spec.tls[0].match[0].sniHosts[0]"},
		{name: "tls no match", kind: KindVirtualService, spec: "  hosts: [a.example.com]\n  tls:\n  - route: [{destination: {host: b}}]", wantField: "spec.tls[0].match"},
		{name: "tls weight", kind: KindVirtualService, spec: "  hosts: [a.example.com]\n  tls:\n  - match: [{sniHosts: [a.example.com]}]\n    route: [{destination: {host: b}, weight: -5}]", wantField: "spec.tls[0].route[0].weight"},
		{name: "exportTo", kind: KindVirtualService, spec: "  exportTo: ['.', other]\n" + vsHTTP(oneDest)},
		{name: "exportTo * with others", kind: KindVirtualService, spec: "  exportTo: ['*', other]\n" + vsHTTP(oneDest), wantField: "spec.exportTo"},
		{name: "exportTo ~", kind: KindVirtualService, spec: "  exportTo: ['~']\n" + vsHTTP(oneDest), wantField: "spec.exportTo[0]"},
		{name: "exportTo duplicate", kind: KindVirtualService, spec: "  exportTo: ['.', ns]\n" + vsHTTP(oneDest), wantField: "spec.exportTo[1]"},
	})
}

func TestValidateMetadata(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "labels", kind: KindVirtualService, spec: vsHTTP(oneDest), meta: "  labels: {app.kubernetes.io/name: reviews, version: v1}\n"},
		{name: "bad label value", kind: KindVirtualService, spec: vsHTTP(oneDest), meta: "  labels: {app: 'a b'}\n", wantField: "metadata.labels[app]"},
		{name: "dry-run only on AuthorizationPolicy", kind: KindVirtualService, spec: vsHTTP(oneDest), meta: "  annotations: {istio.io/dry-run: 'true'}\n", wantField: "metadata.annotations[istio.io/dry-run]"},
	})
	bad := &Object{Key: Key{KindGateway, "Bad_NS", "gw.with.dots"}, Spec: nil}
	c := &checker{obj: bad}
	c.checkMetadata()
	fields := map[string]bool{}
	for _, e := range c.errs {
		fields[e.Field] = true
	}
	if !fields["metadata.name"] || !fields["metadata.namespace"] {
		t.Errorf("Gateway name with dots and bad namespace not rejected: %v", c.errs)
	}
}
