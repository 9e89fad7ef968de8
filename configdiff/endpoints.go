package configdiff

// Envoy's endpoint dump is rebuilt from the hosts it holds, not the
// ClusterLoadAssignment it was sent: it lists the endpoints of every
// cluster, writes defaults (HEALTHY, the overprovisioning factor of 140)
// and drops locality weights unless the cluster weighs localities. These
// functions take the same liberties with both sides, so that only what
// matters differs.

// defaultOverprovisioning is Envoy's default overprovisioning factor.
const defaultOverprovisioning = 140.0

// envoyEndpointDefaults returns cla without the fields Envoy fills in.
func envoyEndpointDefaults(cla map[string]any) map[string]any {
	out := shallowCopy(cla)
	if policy, ok := out["policy"].(map[string]any); ok {
		policy = shallowCopy(policy)
		if policy["overprovisioning_factor"] == defaultOverprovisioning {
			delete(policy, "overprovisioning_factor")
		}
		out["policy"] = policy
	}
	localities, _ := out["endpoints"].([]any)
	cleaned := make([]any, len(localities))
	for i, l := range localities {
		cleaned[i] = localityDefaults(l)
	}
	if localities != nil {
		out["endpoints"] = cleaned
	}
	return out
}

func localityDefaults(l any) any {
	m, ok := l.(map[string]any)
	if !ok {
		return l
	}
	m = shallowCopy(m)
	delete(m, "load_balancing_weight")
	hosts, _ := m["lb_endpoints"].([]any)
	cleaned := make([]any, len(hosts))
	for i, h := range hosts {
		cleaned[i] = hostDefaults(h)
	}
	if hosts != nil {
		m["lb_endpoints"] = cleaned
	}
	return m
}

func hostDefaults(h any) any {
	m, ok := h.(map[string]any)
	if !ok || m["health_status"] != "HEALTHY" {
		return h
	}
	m = shallowCopy(m)
	delete(m, "health_status")
	return m
}

// clusterTypes maps each dynamic cluster of a dump to its discovery type
// ("STATIC" when unset, as in Envoy).
func clusterTypes(configs []map[string]any) map[string]string {
	out := map[string]string{}
	sec := sections["ClustersConfigDump"]
	for _, cfg := range configs {
		entries, _ := cfg[sec.list].([]any)
		warming, _ := cfg["dynamic_warming_clusters"].([]any)
		for _, e := range append(entries, warming...) {
			c := sec.resource(e)
			name, _ := c["name"].(string)
			typ, _ := c["type"].(string)
			if typ == "" {
				typ = "STATIC"
			}
			out[name] = typ
		}
	}
	return out
}

// dropNonEDSEndpoints leaves out the endpoint sets of clusters that are
// not dynamic EDS clusters of the same dump.
func dropNonEDSEndpoints(res Resources, types map[string]string) {
	for k := range res {
		if k.Kind == "endpoint" && types[k.Name] != "EDS" {
			delete(res, k)
		}
	}
}

func shallowCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
