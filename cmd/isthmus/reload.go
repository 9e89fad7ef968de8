package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// reloader re-reads configuration on request: a policy.Store.
type reloader interface {
	Reload()
}

// ignoreReloadSignal keeps SIGHUP from killing isthmus serve before its
// configuration store listens for it (reloadOnSignal) and after it stops:
// the first load reads everything anyway.
func ignoreReloadSignal() {
	signal.Ignore(syscall.SIGHUP)
}

// reloadOnSignal makes every SIGHUP re-read the configuration through r,
// logging it, until ctx ends or stop is called; SIGHUP is ignored after
// stop.
func reloadOnSignal(ctx context.Context, r reloader, logger *slog.Logger) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP)
	done := make(chan struct{})
	go forwardReloads(ctx, done, sigs, r, logger)
	return func() {
		signal.Stop(sigs)
		ignoreReloadSignal()
		close(done)
	}
}

// forwardReloads turns each signal received into a reload.
func forwardReloads(ctx context.Context, done <-chan struct{}, sigs <-chan os.Signal, r reloader, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case sig := <-sigs:
			logger.Info("re-reading the configuration", "signal", sig.String())
			r.Reload()
		}
	}
}
