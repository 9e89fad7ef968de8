package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/isthmus-mesh/isthmus/deploy/bootstrap"
)

// flagForOption names the flag that sets each bootstrap option.
var flagForOption = map[string]string{
	"XDSAddress":   "--xds-address",
	"NodeID":       "--node-id",
	"AdminAddress": "--admin-address",
	"Metadata":     "--meta",
}

// runBootstrap prints an Envoy bootstrap that points the proxy at Isthmus.
func runBootstrap(args []string, stdout, stderr io.Writer) int {
	opts, output, fs, err := parseBootstrapFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		printFlagUsage(fs, stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "isthmus bootstrap: %v\n", err)
		printFlagUsage(fs, stderr)
		return 2
	}
	out, err := bootstrap.YAML(opts)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus bootstrap: %s\n", describeOptionError(err))
		return 2
	}
	if opts.TLS != nil {
		if err := bootstrap.WriteSDSFiles(opts.TLS); err != nil {
			fmt.Fprintf(stderr, "isthmus bootstrap: %v (choose a writable directory with --xds-sds-dir)\n", err)
			return 1
		}
	}
	if err := writeBootstrap(out, output, stdout); err != nil {
		fmt.Fprintf(stderr, "isthmus bootstrap: %v\n", err)
		return 1
	}
	return 0
}

// writeBootstrap writes the bootstrap to path (replacing it by rename),
// or to stdout when path is empty.
func writeBootstrap(out []byte, path string, stdout io.Writer) error {
	if path == "" {
		if _, err := stdout.Write(out); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}

func parseBootstrapFlags(args []string) (bootstrap.Options, string, *flag.FlagSet, error) {
	opts := bootstrap.Options{Metadata: map[string]any{}}
	var output, labelsFile string
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&opts.XDSAddress, "xds-address", "", "HOST:PORT of Isthmus's xDS server (required)")
	fs.StringVar(&opts.NodeID, "node-id", "", "Envoy node id, TYPE~IP~POD.NAMESPACE~DOMAIN (required)")
	fs.Var(metaFlag(opts.Metadata), "meta", "node metadata `KEY=VALUE`, repeatable; a JSON object VALUE becomes a struct")
	fs.BoolVar(&opts.Delta, "delta", false, "use delta xDS for the ADS stream")
	fs.StringVar(&opts.AdminAddress, "admin-address", bootstrap.DefaultAdminAddress, "IP:PORT of Envoy's admin interface")
	fs.StringVar(&opts.Cluster, "cluster", "", "node cluster (default: WORKLOAD.NAMESPACE from labels or pod name)")
	tlsOpts := &bootstrap.XDSTLS{}
	fs.StringVar(&tlsOpts.RootCert, "xds-root-cert", "", "PEM `FILE` of the mesh roots: connect to Isthmus's secure port (--secure-listen) over TLS")
	fs.StringVar(&tlsOpts.ServerName, "xds-server-name", bootstrap.DefaultXDSServerName, "DNS name expected in the secure port's certificate, and sent as SNI")
	fs.StringVar(&tlsOpts.CertChain, "xds-client-cert", "", "PEM `FILE` of the client certificate chain that proves the proxy's identity; Envoy reads it and the key again when an entry is renamed into their directory (as isthmus agent renews them), not when they are rewritten in place")
	fs.StringVar(&tlsOpts.PrivateKey, "xds-client-key", "", "PEM `FILE` of the client certificate's key")
	fs.StringVar(&tlsOpts.SDSDir, "xds-sds-dir", "", "`DIR` where the SDS files naming these files for Envoy are written ("+bootstrap.ClientCertSDSFile+", "+bootstrap.RootsSDSFile+"; default: --xds-client-cert's directory, else --xds-root-cert's)")
	fs.StringVar(&opts.Locality, "locality", "", "where the workload runs, `REGION/ZONE/SUBZONE` (parts may be left out), for locality load balancing")
	fs.StringVar(&output, "output", "", "`FILE` to write the bootstrap to (default: standard output)")
	fs.StringVar(&labelsFile, "labels-file", "", "`FILE` of the pod's labels as the downward API writes them (fieldPath metadata.labels), sent as LABELS metadata")
	if err := fs.Parse(args); err != nil {
		return opts, output, fs, err
	}
	if tlsOpts.RootCert != "" || tlsOpts.CertChain != "" {
		opts.TLS = tlsOpts
	}
	if labelsFile != "" {
		labels, err := bootstrap.ReadLabelsFile(labelsFile)
		if err != nil {
			return opts, output, fs, fmt.Errorf("--labels-file: %w", err)
		}
		opts.Metadata["LABELS"] = labelsMetadata(labels)
	}
	return opts, output, fs, checkBootstrapFlags(fs, opts)
}

// labelsMetadata is labels as a node metadata struct.
func labelsMetadata(labels map[string]string) map[string]any {
	out := make(map[string]any, len(labels))
	for k, v := range labels {
		out[k] = v
	}
	return out
}

func checkBootstrapFlags(fs *flag.FlagSet, opts bootstrap.Options) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if opts.XDSAddress == "" {
		return errors.New("--xds-address is required")
	}
	if opts.NodeID == "" {
		return errors.New("--node-id is required")
	}
	return nil
}

func printFlagUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintln(w, "Usage: isthmus bootstrap --xds-address HOST:PORT --node-id ID [--meta KEY=VALUE]... [--delta] [--admin-address HOST:PORT] [--locality REGION/ZONE/SUBZONE] [--xds-root-cert FILE --xds-client-cert FILE --xds-client-key FILE] [--labels-file FILE] [--output FILE]")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// describeOptionError prefixes a bootstrap option error with its flag.
func describeOptionError(err error) string {
	var optErr *bootstrap.OptionError
	if errors.As(err, &optErr) && flagForOption[optErr.Option] != "" {
		return flagForOption[optErr.Option] + ": " + err.Error()
	}
	return err.Error()
}

// metaFlag collects repeated --meta KEY=VALUE flags into node metadata.
type metaFlag map[string]any

func (m metaFlag) String() string { return "" }

func (m metaFlag) Set(s string) error {
	key, value, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	m[key] = metaValue(value)
	return nil
}

// metaValue reads a JSON object as a struct; anything else stays a string.
func metaValue(value string) any {
	var obj map[string]any
	if strings.HasPrefix(strings.TrimSpace(value), "{") && json.Unmarshal([]byte(value), &obj) == nil {
		return obj
	}
	return value
}
