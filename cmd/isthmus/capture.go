package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/isthmus-mesh/isthmus/deploy/iptables"
)

const captureUsage = "Usage: isthmus capture [--inbound-ports *|-|PORT,...] [--exclude-inbound-ports PORT,...] [--exclude-outbound-ports PORT,...] [--exclude-outbound-ip-ranges CIDR,...] [--print]"

// runCapture installs the sidecar's traffic-capture rules (istio-iptables'
// REDIRECT mode) in the current network namespace: the init container
// Isthmus injects in its own sidecar mode.
func runCapture(args []string, stdout, stderr io.Writer) int {
	opts, print, fs, err := parseCaptureFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		printCaptureUsage(fs, stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "isthmus capture: %v\n", err)
		printCaptureUsage(fs, stderr)
		return 2
	}
	rules := iptables.Rules(opts)
	if print {
		fmt.Fprint(stdout, rules)
		return 0
	}
	bin, err := iptables.Install(context.Background(), rules)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus capture: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "capture rules installed with %s:\n%s", bin, rules)
	return 0
}

func parseCaptureFlags(args []string) (iptables.Options, bool, *flag.FlagSet, error) {
	var opts iptables.Options
	var inbound, excludeIn, excludeOut, excludeCIDRs string
	var print bool
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&inbound, "inbound-ports", "*", "inbound `PORTS` redirected to 15006: * every port but the excluded ones, - none, or PORT,...")
	fs.StringVar(&excludeIn, "exclude-inbound-ports", "", "`PORT,...` never redirected inbound, besides the proxy's own (15000, 15008, 15020, 15021, 15090)")
	fs.StringVar(&excludeOut, "exclude-outbound-ports", "", "destination `PORT,...` never redirected to 15001")
	fs.StringVar(&excludeCIDRs, "exclude-outbound-ip-ranges", "", "destination `CIDR,...` never redirected to 15001")
	fs.BoolVar(&print, "print", false, "print the iptables-restore input instead of installing it")
	if err := fs.Parse(args); err != nil {
		return opts, print, fs, err
	}
	if fs.NArg() > 0 {
		return opts, print, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if opts.InboundPorts, err = iptables.ParseInboundPorts(inbound); err != nil {
		return opts, print, fs, fmt.Errorf("--inbound-ports: %w", err)
	}
	if opts.ExcludeInboundPorts, err = iptables.ParsePorts(excludeIn); err != nil {
		return opts, print, fs, fmt.Errorf("--exclude-inbound-ports: %w", err)
	}
	if opts.ExcludeOutboundPorts, err = iptables.ParsePorts(excludeOut); err != nil {
		return opts, print, fs, fmt.Errorf("--exclude-outbound-ports: %w", err)
	}
	if opts.ExcludeOutboundCIDRs, err = iptables.ParseCIDRs(excludeCIDRs); err != nil {
		return opts, print, fs, fmt.Errorf("--exclude-outbound-ip-ranges: %w", err)
	}
	return opts, print, fs, nil
}

func printCaptureUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintln(w, captureUsage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
