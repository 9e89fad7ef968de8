// Package configdiff compares two Envoy configuration dumps resource by
// resource: what Isthmus serves a proxy (its /debug/envoy_config_dump,
// which has the shape of Envoy's) and what the proxy's Envoy reports in
// its own /config_dump?include_eds.
//
// Contract:
//   - Only dynamic resources are compared: listeners (active, else
//     warming), route configurations, clusters (active, else warming) and
//     endpoint sets (ClusterLoadAssignments), each keyed by kind and name.
//     Static resources, secrets and the dump's other sections are not.
//   - Fields Envoy fills in itself are ignored (IgnoredFields): the time of
//     the last update, versions, and the defaults Envoy writes into what it
//     holds. Everything else is compared as JSON, keys sorted.
//   - Compare never fails on a section or resource type it does not know:
//     it leaves it out.
//   - Write prints each resource that is missing on one side or differs,
//     with a unified diff of the two JSON renderings, then a summary line.
package configdiff
