// Package consulagent runs a real Consul agent (`consul agent -dev`, the
// v1.16.3 binary `make consul-bin` builds from tools/consul into a cache
// outside the repository) on loopback, for tests and benchmarks.
//
// Contract:
//   - BinaryPath is $ISTHMUS_CONSUL_BIN when set, else
//     ${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isthmus}/consul/v1.16.3/consul;
//     a missing binary is an error telling to run `make consul-bin`: tests
//     that need Consul fail, never skip.
//   - Start runs one dev agent (in memory, single node, its own server)
//     listening on 127.0.0.1 only, on free ports other than Consul's
//     defaults (HTTP, server RPC, serf LAN and WAN; DNS and gRPC off), and
//     returns once it has elected itself leader; when a port found free
//     was taken before the agent bound it, it starts again on other ports
//     (three tries). Options set the
//     datacenter and the per-client HTTP connection limit (blocking
//     queries hold one connection each).
//   - Stop interrupts the agent and waits for it (killed after 5 s); the
//     agent also dies with the process that started it, on Linux. StartT
//     stops it when the test ends and fails the test when it cannot start.
//   - The agent's output goes to a log file (LogPath, LogTail).
package consulagent
