// Command benchall is `make bench`: it runs Isthmus's benchmarks at a small
// default size and records the figures in bench/RESULTS.md.
//
// In order, each step small by default and scaled up by flags:
//
//  1. the Go benchmarks of bench/ (translation, index, full push, endpoint
//     change), parsed into a table;
//  2. an xDS load run: a generated mesh (1,000 services in 100 namespaces),
//     `isthmus serve` built from this tree and started on free loopback
//     ports, and simulated sidecars (500) over state-of-the-world and then
//     delta xDS through every xdsload scenario, with the control plane's
//     CPU seconds and peak RSS; a fresh Isthmus process per protocol;
//  3. the data-plane latency benchmark, short (20 s per scenario, in 1 s
//     rounds, the target judged on the median of the rounds' p90 ratios).
//
// The results replace what lies between the markers
// `<!-- make bench: begin -->` and `<!-- make bench: end -->` in the output
// file (created under a "Latest `make bench`" heading when absent); the
// rest of the file, the hand-written history, is kept. The section states
// the date, the commit, the machine, every table, and each of issue 3's
// targets as met or missed, saying when the run was smaller than the
// target's scale.
//
// A step that fails is recorded as failed in the section and the command
// exits non-zero, after running the other steps. The data-plane step needs
// Envoy (`make tools`) and fails without it.
//
//	go run ./bench/cmd/benchall                              # the default, a few minutes on 2 CPUs
//	go run ./bench/cmd/benchall --proxies 5000 --sotw-only   # issue 3's 5,000-sidecar target
package main
