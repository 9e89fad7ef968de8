// Package proxystatus gathers the sync state of the proxies connected to
// one or more Isthmus replicas, from each replica's /debug/proxies, and
// prints it as a table: one row per proxy and replica, with the state of
// each xDS type (SYNCED, NOT SENT, STALE, NACKED) and, below the table,
// the message of every rejection.
//
// Contract:
//   - Gather asks every replica; a replica that cannot be read is reported
//     in the returned errors and the others' proxies are still returned.
//   - Rows are sorted by proxy id, then replica; a row names the replica
//     by the name it reports, or by its URL when it reports none.
//   - Find selects the rows of one proxy: its exact node id, or else the
//     ids containing the given text (istioctl's POD.NAMESPACE form).
//
// Its end-to-end test runs the whole of what an operator uses against
// two `isthmus serve` replicas and real Envoys: the command, the diff
// with Envoy's config_dump, istioctl's debug types and the push traces.
package proxystatus
