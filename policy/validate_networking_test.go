package policy

import "testing"

func TestValidateDestinationRule(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "subsets and policy", kind: KindDestinationRule, spec: `  host: reviews
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool: {tcp: {maxConnections: 100, connectTimeout: 30ms}, http: {http2MaxRequests: 1000, idleTimeout: 1m}}
    outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m, maxEjectionPercent: 50}
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}`},
		{name: "host required", kind: KindDestinationRule, spec: "  subsets: [{name: v1}]", wantField: "spec.host"},
		{name: "bad host", kind: KindDestinationRule, spec: "  host: 'a..b'", wantField: "spec.host"},
		{name: "wildcard host", kind: KindDestinationRule, spec: "  host: '*.example.com'\n  trafficPolicy: {tls: {mode: SIMPLE}}"},
		{name: "duplicate subset", kind: KindDestinationRule, spec: "  host: a\n  subsets: [{name: v1}, {name: v1}]", wantField: "spec.subsets[1].name"},
		{name: "subset name", kind: KindDestinationRule, spec: "  host: a\n  subsets: [{name: V1}]", wantField: "spec.subsets[0].name"},
		{name: "subset labels", kind: KindDestinationRule, spec: "  host: a\n  subsets: [{name: v1, labels: {'bad key!': x}}]", wantField: "spec.subsets[0].labels[bad key!]"},
		{name: "empty traffic policy", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {}", wantField: "spec.trafficPolicy"},
		{name: "consistent hash header", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}"},
		{name: "consistent hash cookie without name", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {ttl: 0s}}}}", wantField: "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name"},
		{name: "maglev table size", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 1000}}}}", wantField: "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize"},
		{name: "maglev prime", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}}"},
		{name: "connection pool negative", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {connectionPool: {tcp: {maxConnections: -1}}}", wantField: "spec.trafficPolicy.connectionPool.tcp.maxConnections"},
		{name: "connection pool http negative", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {connectionPool: {http: {maxRetries: -1}}}", wantField: "spec.trafficPolicy.connectionPool.http.maxRetries"},
		{name: "connection pool empty", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {connectionPool: {}}", wantField: "spec.trafficPolicy.connectionPool"},
		{name: "connect timeout 0", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 0s}}}", wantField: "spec.trafficPolicy.connectionPool.tcp.connectTimeout"},
		{name: "upgrade with client protocol", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}", wantField: "spec.trafficPolicy.connectionPool.http.useClientProtocol"},
		{name: "max ejection percent", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {outlierDetection: {maxEjectionPercent: 150}}", wantField: "spec.trafficPolicy.outlierDetection.maxEjectionPercent"},
		{name: "outlier interval", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {outlierDetection: {interval: 0.0001s}}", wantField: "spec.trafficPolicy.outlierDetection.interval"},
		{name: "local origin failures", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {outlierDetection: {consecutiveLocalOriginFailures: 3}}", wantField: "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures"},
		{name: "port level settings", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: RANDOM}}, {port: {number: 443}, tls: {mode: SIMPLE}}]}"},
		{name: "port level settings without port", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {portLevelSettings: [{loadBalancer: {simple: RANDOM}}]}", wantField: "spec.trafficPolicy.portLevelSettings[0].port"},
		{name: "port level settings duplicate", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: RANDOM}}, {port: {number: 80}, tls: {mode: SIMPLE}}]}", wantField: "spec.trafficPolicy.portLevelSettings[1].port.number"},
		{name: "port level settings empty", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {portLevelSettings: [{port: {number: 80}}]}", wantField: "spec.trafficPolicy.portLevelSettings[0]"},
		{name: "mutual tls needs certs", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {tls: {mode: MUTUAL}}", wantField: "spec.trafficPolicy.tls.clientCertificate"},
		{name: "mutual tls credential", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cred}}"},
		{name: "locality distribute", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: us-west/zone1/*, to: {'us-west/zone1/*': 80, 'us-west/zone2/*': 10}}]}}}", wantField: "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to"},
		{name: "locality failover same region", kind: KindDestinationRule, spec: "  host: a\n  trafficPolicy: {loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: us-east}]}}}", wantField: "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]"},
		{name: "exportTo with selector", kind: KindDestinationRule, spec: "  host: a\n  workloadSelector: {matchLabels: {app: a}}\n  exportTo: ['*']\n  trafficPolicy: {tls: {mode: SIMPLE}}", wantField: "spec.exportTo[0]"},
	})
}

func TestValidateServiceEntry(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "external DNS", kind: KindServiceEntry, spec: "  hosts: [api.example.com]\n  location: MESH_EXTERNAL\n  ports: [{number: 443, name: https, protocol: TLS}]\n  resolution: DNS"},
		{name: "static endpoints", kind: KindServiceEntry, spec: "  hosts: [db.internal]\n  addresses: [10.1.0.0/16]\n  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]\n  resolution: STATIC\n  endpoints: [{address: 10.1.2.3}, {address: 10.1.2.4, ports: {tcp-pg: 6432}}]"},
		{name: "hosts required", kind: KindServiceEntry, spec: "  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS", wantField: "spec.hosts"},
		{name: "host *", kind: KindServiceEntry, spec: "  hosts: ['*']\n  resolution: NONE", wantField: "spec.hosts[0]"},
		{name: "duplicate port number", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 80, name: http2, protocol: HTTP2}]\n  resolution: DNS", wantField: "spec.ports[1].number"},
		{name: "duplicate port name", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: web, protocol: HTTP}, {number: 81, name: web, protocol: HTTP}]\n  resolution: DNS", wantField: "spec.ports[1].name"},
		{name: "bad protocol", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: web, protocol: SPDY}]\n  resolution: DNS", wantField: "spec.ports[0].protocol"},
		{name: "port 0", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 0, name: web, protocol: HTTP}]\n  resolution: DNS", wantField: "spec.ports[0].number"},
		{name: "bad address", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  addresses: [10.0.0.300]\n  resolution: NONE", wantField: "spec.addresses[0]"},
		{name: "CIDR with DNS", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  addresses: [10.0.0.0/8]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS", wantField: "spec.addresses[0]"},
		{name: "STATIC needs IPs", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: backend.example.com}]", wantField: "spec.endpoints[0].address"},
		{name: "NONE with endpoints", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  resolution: NONE\n  endpoints: [{address: 1.2.3.4}]", wantField: "spec.endpoints"},
		{name: "DNS endpoint hostnames", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n  endpoints: [{address: us.example.com}, {address: eu.example.com}]"},
		{name: "DNS wildcard host without endpoints", kind: KindServiceEntry, spec: "  hosts: ['*.example.com']\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS", wantField: "spec.hosts[0]"},
		{name: "DNS_ROUND_ROBIN one endpoint", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS_ROUND_ROBIN\n  endpoints: [{address: x.example.com}, {address: y.example.com}]", wantField: "spec.endpoints"},
		{name: "endpoint port not in service", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n  endpoints: [{address: 1.2.3.4, ports: {grpc: 8080}}]", wantField: "spec.endpoints[0].ports[grpc]"},
		{name: "selector and endpoints", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: a}}\n  endpoints: [{address: 1.2.3.4}]", wantField: "spec.endpoints"},
		{name: "selector", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: a}}"},
		{name: "selector wildcard", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  workloadSelector: {labels: {app: '*'}}", wantField: "spec.workloadSelector.labels[app]"},
		{name: "several hosts with TCP", kind: KindServiceEntry, spec: "  hosts: [a.example.com, b.example.com]\n  ports: [{number: 9000, name: tcp, protocol: TCP}]\n  resolution: DNS", wantField: "spec.ports[0]"},
		{name: "unix endpoint", kind: KindServiceEntry, spec: "  hosts: [uds.local]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: 'unix:///var/run/app.sock'}]"},
		{name: "exportTo ~", kind: KindServiceEntry, spec: "  hosts: [a.example.com]\n  resolution: NONE\n  exportTo: ['~']"},
	})
}

func TestValidateWorkloadEntry(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "IP", kind: KindWorkloadEntry, spec: "  address: 10.0.0.5\n  ports: {http: 8080}\n  labels: {app: ratings}\n  weight: 10"},
		{name: "hostname", kind: KindWorkloadEntry, spec: "  address: vm1.example.com"},
		{name: "unix", kind: KindWorkloadEntry, spec: "  address: unix:///var/run/app.sock"},
		{name: "network only", kind: KindWorkloadEntry, spec: "  network: remote"},
		{name: "address required", kind: KindWorkloadEntry, spec: "  labels: {app: a}", wantField: "spec.address"},
		{name: "bad address", kind: KindWorkloadEntry, spec: "  address: 'not an address'", wantField: "spec.address"},
		{name: "unix relative path", kind: KindWorkloadEntry, spec: "  address: unix://relative.sock", wantField: "spec.address"},
		{name: "unix with ports", kind: KindWorkloadEntry, spec: "  address: unix:///a.sock\n  ports: {http: 80}", wantField: "spec.ports"},
		{name: "port range", kind: KindWorkloadEntry, spec: "  address: 10.0.0.5\n  ports: {http: 70000}", wantField: "spec.ports[http]"},
		{name: "port name", kind: KindWorkloadEntry, spec: "  address: 10.0.0.5\n  ports: {'web_1': 80}", wantField: "spec.ports[web_1]"},
	})
}

func TestValidateSidecar(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "egress hosts", kind: KindSidecar, spec: "  egress:\n  - hosts: ['./*', 'istio-system/*', '*/api.example.com', '~/*']"},
		{name: "egress listeners", kind: KindSidecar, spec: "  egress:\n  - {port: {number: 9080, protocol: HTTP, name: http}, bind: 127.0.0.2, captureMode: NONE, hosts: ['./*']}\n  - hosts: ['*/*']"},
		{name: "egress host format", kind: KindSidecar, spec: "  egress:\n  - hosts: [reviews.default.svc.cluster.local]", wantField: "spec.egress[0].hosts[0]"},
		{name: "egress short name", kind: KindSidecar, spec: "  egress:\n  - hosts: [default/reviews]", wantField: "spec.egress[0].hosts[0]"},
		{name: "egress partial wildcard", kind: KindSidecar, spec: "  egress:\n  - hosts: ['ns/*foo.com']", wantField: "spec.egress[0].hosts[0]"},
		{name: "egress bad namespace", kind: KindSidecar, spec: "  egress:\n  - hosts: ['Bad/*']", wantField: "spec.egress[0].hosts[0]"},
		{name: "egress hosts required", kind: KindSidecar, spec: "  egress:\n  - port: {number: 80, protocol: HTTP, name: http}", wantField: "spec.egress[0].hosts"},
		{name: "catch-all not last", kind: KindSidecar, spec: "  egress:\n  - hosts: ['*/*']\n  - {port: {number: 80, protocol: HTTP, name: http}, hosts: ['./*']}", wantField: "spec.egress[0]"},
		{name: "two catch-alls", kind: KindSidecar, spec: "  egress:\n  - hosts: ['*/*']\n  - hosts: ['./*']", wantField: "spec.egress[0]"},
		{name: "duplicate egress port", kind: KindSidecar, spec: "  egress:\n  - {port: {number: 80, name: a}, hosts: ['./*']}\n  - {port: {number: 80, name: b}, hosts: ['./*']}", wantField: "spec.egress[1].port.number"},
		{name: "bind not an IP", kind: KindSidecar, spec: "  egress:\n  - {port: {number: 80, name: a}, bind: localhost, hosts: ['./*']}", wantField: "spec.egress[0].bind"},
		{name: "egress port protocol", kind: KindSidecar, spec: "  egress:\n  - {port: {number: 80, protocol: FTP, name: a}, hosts: ['./*']}", wantField: "spec.egress[0].port.protocol"},
		{name: "port 0 needs unix bind", kind: KindSidecar, spec: "  egress:\n  - {port: {number: 0, name: a}, hosts: ['./*']}", wantField: "spec.egress[0].bind"},
		{name: "unix socket listener", kind: KindSidecar, spec: "  egress:\n  - {port: {number: 0, name: a}, bind: 'unix:///var/run/out.sock', captureMode: NONE, hosts: ['./*']}"},
		{name: "ingress", kind: KindSidecar, spec: "  ingress:\n  - {port: {number: 9080, protocol: HTTP, name: http}, defaultEndpoint: 127.0.0.1:8080, captureMode: NONE}"},
		{name: "ingress port required", kind: KindSidecar, spec: "  ingress:\n  - {defaultEndpoint: 127.0.0.1:8080}", wantField: "spec.ingress[0].port"},
		{name: "ingress default endpoint host", kind: KindSidecar, spec: "  ingress:\n  - {port: {number: 9080, name: http}, defaultEndpoint: 10.0.0.1:8080}", wantField: "spec.ingress[0].defaultEndpoint"},
		{name: "ingress default endpoint port", kind: KindSidecar, spec: "  ingress:\n  - {port: {number: 9080, name: http}, defaultEndpoint: '127.0.0.1:http'}", wantField: "spec.ingress[0].defaultEndpoint"},
		{name: "ingress default endpoint unix", kind: KindSidecar, spec: "  ingress:\n  - {port: {number: 9080, name: http}, defaultEndpoint: 'unix:///var/run/app.sock'}"},
		{name: "ingress duplicate port", kind: KindSidecar, spec: "  ingress:\n  - {port: {number: 9080, name: a}}\n  - {port: {number: 9080, name: b}}", wantField: "spec.ingress[1].port.number"},
		{name: "ingress bind", kind: KindSidecar, spec: "  ingress:\n  - {port: {number: 9080, name: a}, bind: 'x.y'}", wantField: "spec.ingress[0].bind"},
		{name: "ingress tls mode", kind: KindSidecar, spec: "  ingress:\n  - {port: {number: 9080, name: a}, tls: {mode: ISTIO_MUTUAL}}", wantField: "spec.ingress[0].tls.mode"},
		{name: "empty", kind: KindSidecar, spec: "  workloadSelector: {labels: {app: a}}", wantField: "spec"},
		{name: "outbound policy only", kind: KindSidecar, spec: "  outboundTrafficPolicy: {mode: REGISTRY_ONLY}"},
		{name: "egress proxy needs ALLOW_ANY", kind: KindSidecar, spec: "  outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: egress.example.com, port: {number: 80}}}", wantField: "spec.outboundTrafficPolicy.egressProxy"},
		{name: "selector wildcard", kind: KindSidecar, spec: "  workloadSelector: {labels: {app: 'a*'}}\n  outboundTrafficPolicy: {mode: ALLOW_ANY}", wantField: "spec.workloadSelector.labels[app]"},
	})
}

func TestValidateGateway(t *testing.T) {
	runValidationCases(t, []validationCase{
		{name: "http and https", kind: KindGateway, spec: `  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: ['*'], tls: {httpsRedirect: true}}
  - {port: {number: 443, name: https, protocol: HTTPS}, hosts: ['ns1/bookinfo.example.com'], tls: {mode: SIMPLE, credentialName: bookinfo-cert}}`},
		{name: "servers required", kind: KindGateway, spec: "  selector: {istio: ingressgateway}", wantField: "spec.servers"},
		{name: "hosts required", kind: KindGateway, spec: "  servers: [{port: {number: 80, name: http, protocol: HTTP}}]", wantField: "spec.servers[0].hosts"},
		{name: "host short name", kind: KindGateway, spec: "  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [reviews]}]", wantField: "spec.servers[0].hosts[0]"},
		{name: "host partial wildcard", kind: KindGateway, spec: "  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*foo.example.com']}]", wantField: "spec.servers[0].hosts[0]"},
		{name: "port required", kind: KindGateway, spec: "  servers: [{hosts: ['*']}]", wantField: "spec.servers[0].port"},
		{name: "port name required", kind: KindGateway, spec: "  servers: [{port: {number: 80, protocol: HTTP}, hosts: ['*']}]", wantField: "spec.servers[0].port.name"},
		{name: "port protocol", kind: KindGateway, spec: "  servers: [{port: {number: 80, name: x, protocol: QUIC}, hosts: ['*']}]", wantField: "spec.servers[0].port.protocol"},
		{name: "port number", kind: KindGateway, spec: "  servers: [{port: {number: 0, name: x, protocol: HTTP}, hosts: ['*']}]", wantField: "spec.servers[0].port.number"},
		{name: "duplicate port names", kind: KindGateway, spec: "  servers:\n  - {port: {number: 80, name: web, protocol: HTTP}, hosts: ['*']}\n  - {port: {number: 8080, name: web, protocol: HTTP}, hosts: ['*']}", wantField: "spec.servers[1].port.name"},
		{name: "https needs tls", kind: KindGateway, spec: "  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*']}]", wantField: "spec.servers[0].tls"},
		{name: "tcp cannot have tls", kind: KindGateway, spec: "  servers: [{port: {number: 31400, name: tcp, protocol: TCP}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: c}}]", wantField: "spec.servers[0].tls"},
		{name: "http cannot terminate tls", kind: KindGateway, spec: "  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: c}}]", wantField: "spec.servers[0].tls"},
		{name: "simple needs certificate", kind: KindGateway, spec: "  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE}}]", wantField: "spec.servers[0].tls.serverCertificate"},
		{name: "simple with files", kind: KindGateway, spec: "  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, serverCertificate: /etc/c.pem, privateKey: /etc/k.pem}}]"},
		{name: "mutual needs CA", kind: KindGateway, spec: "  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k}}]", wantField: "spec.servers[0].tls.caCertificates"},
		{name: "istio mutual with certs", kind: KindGateway, spec: "  servers: [{port: {number: 15443, name: tls, protocol: TLS}, hosts: ['*'], tls: {mode: ISTIO_MUTUAL, credentialName: c}}]", wantField: "spec.servers[0].tls.mode"},
		{name: "passthrough", kind: KindGateway, spec: "  servers: [{port: {number: 443, name: tls, protocol: TLS}, hosts: ['*.example.com'], tls: {mode: PASSTHROUGH}}]"},
		{name: "bind IP", kind: KindGateway, spec: "  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*'], bind: 'nope'}]", wantField: "spec.servers[0].bind"},
		{name: "credential sources exclusive", kind: KindGateway, spec: "  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: a, credentialNames: [b]}}]", wantField: "spec.servers[0].tls"},
	})
}
