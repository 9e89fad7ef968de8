// Package consulbench measures Isthmus with a real Consul as a discovery
// source (the speed part of "Consul as a discovery source"): how long an
// instance change takes from the Consul write to the EDS ACK of every
// sidecar holding the service, under steady churn, and what Isthmus spends
// doing it. cmd/consulbench is its command line.
//
// A run, in order:
//
//  1. starts a Consul dev agent (deploy/consulagent) whose per-client
//     HTTP connection limit admits one blocking query per service;
//  2. registers Options.Services services svc-I, each with
//     Options.Instances instances (svc-I-J at 10.(I/256).(I%256).(J+1),
//     port 8080, meta protocol http, tag version=vJ), Options.Writers
//     registrations in flight;
//  3. runs `isthmus serve --consul ADDR` on an empty config directory and
//     its own state directory, and connects Options.Proxies xdsload
//     sidecars (delta xDS unless told; identities from a small meshgen
//     mesh, no Sidecar resource, so each holds every Consul service);
//  4. moves instances at Options.Churn per second for Options.Duration,
//     the services round robin: a change registers a service's last
//     instance again, under the same ID, at a new address
//     (10.(128+I/256).(I%256).(10+GEN%240)). A sidecar has the change when
//     its EDS for outbound|8080||svc-I.service.consul shows that address,
//     or the address of a later move of the same instance.
//
// Contract:
//   - Latencies run from the return of the registration that makes the
//     change to the sidecar's ACK of the first EDS response showing it
//     (xdsload's Phase and detectors), for every sidecar holding the
//     service; they include Consul's blocking-query delivery, the Consul
//     registry's and Isthmus's debouncing, translation and push.
//   - Isthmus's cost is read from /proc by xdsload (CPU seconds and peak
//     RSS per phase); the Consul agent's CPU and peak RSS are measured too,
//     since on a small machine they share the cores.
//   - Everything runs on loopback; everything the run starts is stopped
//     before Run returns.
package consulbench
