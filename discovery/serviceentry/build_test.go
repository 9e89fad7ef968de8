package serviceentry

import (
	"testing"
)

func TestBuild(t *testing.T) {
	cases := []struct {
		name          string
		yaml          string
		wantServices  []string
		wantEndpoints []string
	}{
		{
			name: "DNS without endpoints: each host is its own endpoint",
			yaml: `
kind: ServiceEntry
metadata: {name: external, namespace: web, labels: {team: a}}
spec:
  hosts: [httpbin.org, api.example.com]
  ports:
  - {name: http, number: 80, protocol: HTTP}
  - {name: https, number: 443, protocol: TLS, targetPort: 8443}
  resolution: DNS
`,
			wantServices: []string{
				"api.example.com/web ports=http:80/HTTP,https:443/TLS DNS external registry=file labels=team=a",
				"httpbin.org/web ports=http:80/HTTP,https:443/TLS DNS external registry=file labels=team=a",
			},
			wantEndpoints: []string{
				"api.example.com/web:80 -> api.example.com:80 cluster=file",
				"api.example.com/web:443 -> api.example.com:8443 cluster=file",
				"httpbin.org/web:80 -> httpbin.org:80 cluster=file",
				"httpbin.org/web:443 -> httpbin.org:8443 cluster=file",
			},
		},
		{
			name: "DNS_ROUND_ROBIN without endpoints also resolves the host",
			yaml: `
kind: ServiceEntry
metadata: {name: rr}
spec:
  hosts: [rr.example.com]
  ports: [{name: tcp, number: 9000, protocol: TCP}]
  resolution: DNS_ROUND_ROBIN
`,
			wantServices:  []string{"rr.example.com/default ports=tcp:9000/TCP DNS_ROUND_ROBIN external registry=file"},
			wantEndpoints: []string{"rr.example.com/default:9000 -> rr.example.com:9000 cluster=file"},
		},
		{
			name: "STATIC with inline endpoints: named port, targetPort, then port number",
			yaml: `
kind: ServiceEntry
metadata: {name: vms, namespace: prod, labels: {owner: ops}}
spec:
  hosts: [vm.internal]
  addresses: [240.0.0.1/32, 10.1.0.0/16, not-an-ip]
  location: MESH_INTERNAL
  exportTo: [".", "shared"]
  ports:
  - {name: http, number: 80, protocol: http, targetPort: 8080}
  - {name: grpc, number: 9090, protocol: GRPC}
  resolution: STATIC
  endpoints:
  - address: 10.0.0.1
    ports: {http: 8000}
    labels: {version: v1}
    network: net1
    locality: us-east/zone1
    weight: 3
    serviceAccount: vm-sa
  - address: 10.0.0.2
    labels: {version: v2, istio-locality: eu-west.zone2}
`,
			wantServices: []string{
				"vm.internal/prod ports=http:80/HTTP,grpc:9090/GRPC STATIC internal registry=file addresses=240.0.0.1,10.1.0.0/16 exportTo=.,shared labels=owner=ops",
			},
			wantEndpoints: []string{
				"vm.internal/prod:80 -> 10.0.0.1:8000 cluster=file labels=version=v1 network=net1 locality=us-east/zone1 weight=3 sa=vm-sa",
				"vm.internal/prod:80 -> 10.0.0.2:8080 cluster=file labels=istio-locality=eu-west.zone2,version=v2 locality=eu-west/zone2",
				"vm.internal/prod:9090 -> 10.0.0.1:9090 cluster=file labels=version=v1 network=net1 locality=us-east/zone1 weight=3 sa=vm-sa",
				"vm.internal/prod:9090 -> 10.0.0.2:9090 cluster=file labels=istio-locality=eu-west.zone2,version=v2 locality=eu-west/zone2",
			},
		},
		{
			name: "DNS with inline hostname endpoints uses them, not the host",
			yaml: `
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.com]
  ports: [{name: mysql, number: 3306, protocol: MYSQL}]
  resolution: DNS
  endpoints:
  - address: db-primary.example.net
`,
			wantServices:  []string{"db.example.com/default ports=mysql:3306/MYSQL DNS external registry=file"},
			wantEndpoints: []string{"db.example.com/default:3306 -> db-primary.example.net:3306 cluster=file"},
		},
		{
			name: "NONE has no endpoints even when some are listed",
			yaml: `
kind: ServiceEntry
metadata: {name: passthrough}
spec:
  hosts: [wild.example.com]
  ports: [{name: tcp, number: 5432, protocol: TCP}]
  resolution: NONE
  endpoints: [{address: 10.0.0.9}]
`,
			wantServices: []string{"wild.example.com/default ports=tcp:5432/TCP NONE external registry=file"},
		},
		{
			name: "unix socket address is kept and has port 0",
			yaml: `
kind: ServiceEntry
metadata: {name: uds}
spec:
  hosts: [uds.local]
  ports: [{name: http, number: 80, protocol: HTTP, targetPort: 8080}]
  resolution: STATIC
  endpoints: [{address: "unix:///var/run/app.sock", ports: {http: 9999}}]
`,
			wantServices:  []string{"uds.local/default ports=http:80/HTTP STATIC external registry=file"},
			wantEndpoints: []string{"uds.local/default:80 -> unix:///var/run/app.sock:0 cluster=file"},
		},
		{
			name: "workloadSelector picks matching WorkloadEntries of the same namespace",
			yaml: `
kind: ServiceEntry
metadata: {name: app, namespace: vm}
spec:
  hosts: [app.vm.svc]
  location: MESH_INTERNAL
  ports: [{name: http, number: 80, protocol: HTTP, targetPort: 8080}]
  resolution: STATIC
  workloadSelector: {labels: {app: app}}
  endpoints: [{address: 10.9.9.9}]
---
kind: WorkloadEntry
metadata: {name: app-1, namespace: vm, labels: {app: app, version: meta, tier: web}}
spec:
  address: 10.0.1.1
  labels: {version: v1}
  ports: {http: 9080}
  network: vm-net
  locality: r1/z1
  weight: 7
  serviceAccount: app-sa
---
kind: WorkloadEntry
metadata: {name: app-2, namespace: vm}
spec:
  address: 10.0.1.2
  labels: {app: app}
---
kind: WorkloadEntry
metadata: {name: other, namespace: vm}
spec:
  address: 10.0.1.3
  labels: {app: other}
---
kind: WorkloadEntry
metadata: {name: app-elsewhere, namespace: default}
spec:
  address: 10.0.1.4
  labels: {app: app}
`,
			wantServices: []string{"app.vm.svc/vm ports=http:80/HTTP STATIC internal registry=file"},
			wantEndpoints: []string{
				"app.vm.svc/vm:80 -> 10.0.1.1:9080 cluster=file labels=app=app,tier=web,version=v1 network=vm-net locality=r1/z1 weight=7 sa=app-sa",
				"app.vm.svc/vm:80 -> 10.0.1.2:8080 cluster=file labels=app=app",
			},
		},
		{
			name: "DNS with a selector that matches nothing has no endpoints",
			yaml: `
kind: ServiceEntry
metadata: {name: sel}
spec:
  hosts: [sel.example.com]
  ports: [{name: http, number: 80, protocol: HTTP}]
  resolution: DNS
  workloadSelector: {labels: {app: none}}
`,
			wantServices: []string{"sel.example.com/default ports=http:80/HTTP DNS external registry=file"},
		},
		{
			name: "same host in two namespaces gives two services; in one namespace the first entry wins",
			yaml: `
kind: ServiceEntry
metadata: {name: b-second, namespace: a}
spec:
  hosts: [dup.example.com]
  ports: [{name: tcp, number: 2, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.2}]
---
kind: ServiceEntry
metadata: {name: a-first, namespace: a}
spec:
  hosts: [dup.example.com]
  ports: [{name: tcp, number: 1, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
kind: ServiceEntry
metadata: {name: other, namespace: b}
spec:
  hosts: [dup.example.com]
  ports: [{name: http, number: 80, protocol: unknown-proto}]
  resolution: DNS
`,
			wantServices: []string{
				"dup.example.com/a ports=tcp:1/TCP STATIC external registry=file",
				"dup.example.com/b ports=http:80/UNKNOWN DNS external registry=file",
			},
			wantEndpoints: []string{
				"dup.example.com/a:1 -> 10.0.0.1:1 cluster=file",
				"dup.example.com/b:80 -> dup.example.com:80 cluster=file",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Build(configFromYAML(t, tc.yaml))
			assertLines(t, "services", describeServices(c), tc.wantServices)
			assertLines(t, "endpoints", describeEndpoints(c), tc.wantEndpoints)
		})
	}
}

func TestBuildEmptyConfig(t *testing.T) {
	c := Build(nil)
	if c == nil || len(c.Services()) != 0 {
		t.Fatalf("Build(nil) = %v services, want an empty catalog", c.Services())
	}
}

func TestBuildDoesNotModifyWorkloadEntrySpec(t *testing.T) {
	cfg := configFromYAML(t, `
kind: ServiceEntry
metadata: {name: app}
spec:
  hosts: [app.local]
  ports: [{name: http, number: 80, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: app}}
---
kind: WorkloadEntry
metadata: {name: w, labels: {app: app}}
spec: {address: 10.0.0.1}
`)
	Build(cfg)
	for _, o := range cfg.List("WorkloadEntry") {
		if got := labelString(o.Spec.(interface{ GetLabels() map[string]string }).GetLabels()); got != "" {
			t.Errorf("WorkloadEntry spec labels became %q; the object must stay unchanged", got)
		}
	}
}
