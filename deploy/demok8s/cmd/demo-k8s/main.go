// Command demo-k8s runs the two-cloud demo on real Kubernetes (package
// deploy/demok8s): `make demo-k8s`, as root.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/isthmus-mesh/isthmus/deploy/demok8s"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, err := demok8s.Run(ctx, demok8s.Options{Out: os.Stdout, Logger: logger}); err != nil {
		fmt.Fprintln(os.Stderr, "demo-k8s:", err)
		os.Exit(1)
	}
}
