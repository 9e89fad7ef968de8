// Command demo-k8s runs the two-cloud demo on real Kubernetes (package
// deploy/demok8s): `make demo-k8s`, as root.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/isthmus-mesh/isthmus/deploy/demok8s"
)

func main() {
	twoNetworks := flag.Bool("two-networks", true, "declare the clouds two networks joined only through east-west gateways (false: one network, the pod ranges routed to each other)")
	hold := flag.Duration("hold", 0, "keep the clusters this long after a failure, to look at them")
	holdAlways := flag.Bool("hold-always", false, "with --hold, keep the clusters after a success too")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, err := demok8s.Run(ctx, demok8s.Options{Out: os.Stdout, Logger: logger, Hold: *hold, HoldAlways: *holdAlways, TwoNetworks: *twoNetworks}); err != nil {
		fmt.Fprintln(os.Stderr, "demo-k8s:", err)
		os.Exit(1)
	}
}
