// Package statefile keeps a discovery source's last catalog on disk, so a
// restarted Isthmus serves it (stale) until the source answers again: the
// mechanism behind --state-dir/clusters, shared by Kubernetes clusters and
// Consul datacenters.
//
// Contract:
//   - One File per source, at DIR/NAME.json (Path: the name escaped as a
//     URL path segment, a leading dot escaped too, so no name reaches
//     outside DIR). It holds the source's name, when it was written and
//     the catalog (discovery.Catalog's JSON form).
//   - Offer hands Run the newest catalog; Run writes it when it differs
//     from the one last written (the same pointer needs no comparison), at
//     most once per WriteInterval, the latest first, and once more when its
//     context ends. Writes are atomic (a temporary file in DIR, synced,
//     renamed; DIR synced), mode 0600, DIR made 0700 when missing.
//   - A catalog whose JSON exceeds MaxSize (64 MiB) is not written: logged
//     at ERROR once, the file keeps the older one. Write errors are logged
//     at ERROR, naming the source and the file.
//   - Load returns nil and no error when there is no file; an error for a
//     file over MaxSize, one that does not decode whole (unknown fields
//     included) or that names another source. A catalog loaded counts as
//     written, so offering an equal one writes nothing.
package statefile
