// Command isthmus is the Isthmus control plane: it serves Envoy sidecars
// their configuration over ADS from Istio configuration files, prints Envoy
// bootstraps and validates Istio YAML.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `isthmus: an xDS control plane for Envoy that speaks Istio configuration.

Usage:
  isthmus serve --config-dir DIR [--xds-listen ADDR] [--monitoring-listen ADDR]
  isthmus bootstrap --xds-address HOST:PORT --node-id ID [--meta KEY=VALUE]... [--delta] [--admin-address HOST:PORT]
  isthmus agent [--ca-address HOST:PORT] [--root-cert FILE] [--token-file FILE] [--output-dir DIR] [--once]
  isthmus capture [--inbound-ports *|-|PORT,...] [--exclude-outbound-ports PORT,...] [--exclude-outbound-ip-ranges CIDR,...]
  isthmus proxy-status [--server URL]... [--envoy-admin URL] [PROXY]
  isthmus validate [--max-file-size SIZE] [--max-document-size SIZE] PATH...

Run "isthmus COMMAND --help" for the flags of a command.
`

// commands maps each subcommand to its entry point; each returns the exit code.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"serve":        serveCommand,
	"bootstrap":    runBootstrap,
	"validate":     runValidate,
	"agent":        runAgent,
	"capture":      runCapture,
	"proxy-status": runProxyStatus,
	"explain":      runExplain,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "isthmus: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

// serveCommand runs isthmus serve, in which SIGHUP re-reads the
// configuration instead of ending the process.
func serveCommand(args []string, stdout, stderr io.Writer) int {
	ignoreReloadSignal()
	return runServe(args, stdout, stderr)
}
