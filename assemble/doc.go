// Package assemble puts Isthmus's inputs together into model.Snapshots:
// the Istio configuration of every policy.ConfigSource (files, the custom
// resources of a config cluster...) and the services and endpoints of every
// discovery.Registry (Kubernetes clusters...).
//
// Contract:
//   - Build is the pure assembly of one snapshot: the configuration's
//     ServiceEntries and WorkloadEntries make the first catalog, the
//     registries' catalogs follow in order, all merged (discovery.Merge),
//     with the network gateways of the Settings. The server, the benchmarks
//     and the golden tests all build their snapshots with it.
//   - An Assembler merges its sources' definitions with policy.Accept, in
//     the order the sources were added (an object defined by two sources:
//     the first wins, the other is reported), keeping across changes the
//     last valid version of every object, whichever source defines it.
//   - Run hands the sink a new snapshot after any source or registry
//     changes (debounced), and the number of configuration problems. It
//     publishes nothing until every source has synced once, or until
//     RunOptions.SyncWait has passed (then without the missing sources,
//     logged); a slow source or registry never holds the others' changes
//     back after that. The end of the wait publishes only a snapshot that
//     was held back: when every source had synced, nothing changed.
//   - A panic while assembling (a bug reached by unusual input) is logged
//     and the previous snapshot stays in place.
package assemble
