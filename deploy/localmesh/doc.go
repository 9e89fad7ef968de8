// Package localmesh runs a small service mesh on the loopback network: HTTP
// upstreams that report who answered, an `isthmus serve` process reading a
// config directory, and real Envoy processes bootstrapped by
// `isthmus bootstrap`. The demo (deploy/demo) and the end-to-end tests
// (xds/e2e) are built on it.
//
// Contract:
//   - Every address it listens on or sends to is in 127.0.0.0/8; constructors
//     refuse any other address.
//   - Every process it starts is stopped by the Close method of the value
//     that started it (and killed if the parent process dies, on Linux).
//   - Process output goes to a log file whose tail is available for failure
//     messages (LogTail).
//   - Config files are replaced atomically (write to a temporary file, then
//     rename), so Isthmus never reads half a file.
//   - A missing Envoy binary is an error that says to run `make tools`; it is
//     never silently skipped.
package localmesh
