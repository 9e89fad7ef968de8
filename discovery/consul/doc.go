// Package consul makes a Consul datacenter a discovery.Registry: the
// services registered in Consul become mesh services that sidecars reach
// with Istio's routing, on the same footing as files and Kubernetes. Its
// KVSource serves Istio YAML stored in Consul's KV store as a configuration
// source.
//
// Contract:
//   - New takes Options; Address is required. The client is
//     github.com/hashicorp/consul/api; the CONSUL_HTTP_* environment (TLS,
//     CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE) applies, Options.Token and
//     Options.TokenFile override it. The token needs agent:read (the
//     datacenter), service:read and node:read.
//   - Run asks the agent for its datacenter (/v1/agent/self), then follows
//     the service list (/v1/catalog/services) and, for every service on it
//     but Consul's own "consul", its instances and checks
//     (/v1/health/service/NAME), each with blocking queries (WaitIndex,
//     Options.WaitTime): no polling of its own. An answer whose index went
//     backwards makes the next query a plain read (index 0); an index of 0
//     is raised to 1. A query unanswered 5 s past what it asked for (at
//     once for the agent's self, WaitTime plus Consul's jitter for a
//     blocking one) fails as an unreachable Consul. A failed query is sent
//     again after RetryMin, doubling up to RetryMax. Each service holds one HTTP connection to
//     the agent: Consul's limits.http_max_conns_per_client (default 200)
//     must exceed the number of services.
//   - A service's answer is mapped at once; an answer that changes what the
//     mesh sees schedules a rebuild of the catalog, debounced (Debounce,
//     at most DebounceMax), after which Changes is signalled if the
//     catalog differs. Until the list and every service on it have
//     answered once, Catalog is the state file's (below) or empty, never
//     nil; then HasSynced turns true.
//   - Mapping. The Consul service NAME (a DNS label) is the host
//     NAME.SUFFIX (lowercased; Options.Suffix, default service.consul) in
//     Options.Namespace (default "default"), MeshInternal, resolution
//     STATIC, without addresses, Registry the cluster id: Options.Name, else
//     the datacenter. Its instances are its endpoints when healthy: every
//     check passing, or at worst warning with IncludeWarning; instances in
//     maintenance or critical still give the service their ports (a
//     service whose instances all fail has no endpoints, not no ports);
//     Connect proxies and gateways (any Kind) are left out. An endpoint is at Service.Address (else the node's
//     address; it must be an IP) and Service.Port, which is also its
//     service port: the service's ports are its instances' ports, named
//     PROTOCOL-NUMBER, with the protocol of meta "protocol" (Istio's names,
//     any case), else UNKNOWN. Labels: the instance's tags of the form
//     k=v, overlaid by its Service.Meta, plus topology.istio.io/cluster
//     (the cluster id) and topology.kubernetes.io/region (the datacenter);
//     meta "network" is also the endpoint's network and label
//     topology.istio.io/network, meta "tlsMode" (istio or disabled) label
//     security.istio.io/tlsMode. Locality: the datacenter as region.
//     Weight: the instance's Consul weight for its state (Passing or
//     Warning) when above 1.
//   - A ServiceEntry for the same host in the same namespace joins the
//     service (discovery.Merge, the ServiceEntry first): its ports and
//     their protocols win, Consul's endpoints are added to its own.
//   - Bad input never hides the rest: an instance with a port outside
//     1-65535, an address that is not an IP, an unknown meta protocol or a
//     bad tlsMode or network is left out, logged at ERROR once per change,
//     naming the datacenter, service, instance, node and field; a service
//     whose name is no DNS label is left out the same way. Two instances
//     giving one port different protocols: the first (by node, then ID)
//     wins, the other is logged and still served.
//   - Outages: a failed query marks the registry stale and logs one WARN
//     line for the outage, naming the Consul and the error; the catalog is
//     kept as it is (each service's last answer), never replaced by
//     nothing. When every failing query answers again a WARN line gives the
//     outage's length. Queries of one registry never wait on another
//     source: Catalog returns the last built catalog at once.
//   - Durable state: with Options.StateDir, every catalog built from
//     Consul is written by package statefile to
//     STATEDIR/consul-NAME.json (Options.Name, else the address, known
//     before Consul answers), and New serves a good file, stale
//     (Status.FromState), until Consul has answered; a bad file is logged
//     at WARN and ignored.
//   - Status reports Synced, Stale, FromState, LastSync, Since, Error and
//     the number of failing queries.
//   - KVSource is the Istio YAML under a KV prefix (KVOptions.Prefix,
//     default isthmus/config/) as a policy.ConfigSource: a blocking query
//     on the prefix (the same index rules), each key one file named
//     consul:KEY, decoded again only when its ModifyIndex changed
//     (policy.DecodeDefinitions, keys in order, folders skipped). A key
//     whose documents cannot all be identified, or over the size limit,
//     keeps its previous definitions with the new problems; a deleted key
//     drops its objects. Synced after the first answer; Changes only when a
//     key changed. While Consul is unreachable the last definitions stay
//     (one WARN line per outage).
package consul
