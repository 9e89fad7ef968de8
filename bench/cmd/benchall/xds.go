package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// xdsResult is the outcome of the xDS load step: one report per protocol.
type xdsResult struct {
	Mesh    meshgen.Spec
	Reports []*xdsload.Report
}

// meshSpec is the mesh of issue 3's targets at the configured size: 3
// endpoints and 3 subsets per service, an 80/20 VirtualService for every
// service, each namespace scoped to itself and istio-system by a Sidecar
// (none with --unscoped).
func meshSpec(cfg config) meshgen.Spec {
	spec := meshgen.DefaultSpec()
	spec.Services, spec.Namespaces = cfg.Services, cfg.Namespaces
	spec.EndpointsPerService, spec.Subsets = 3, 3
	spec.VirtualServicesPerNamespace = meshgen.AllServices
	spec.Sidecars = !cfg.Unscoped
	return spec
}

// runXDS generates the mesh into the work directory and, for each
// protocol, starts a fresh `isthmus serve` on it and points the simulated
// sidecars at it through every scenario.
func runXDS(ctx context.Context, cfg config, w *workDir, progress io.Writer) (*xdsResult, error) {
	res := &xdsResult{Mesh: meshSpec(cfg)}
	meshDir := filepath.Join(w.dir, "mesh")
	if err := meshgen.Write(meshDir, res.Mesh); err != nil {
		return res, err
	}
	bin, err := w.isthmus()
	if err != nil {
		return res, err
	}
	for _, delta := range cfg.protocols() {
		report, err := loadOnce(ctx, cfg, w, bin, meshDir, delta, progress)
		if report != nil {
			res.Reports = append(res.Reports, report)
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", protocolName(delta), err)
		}
	}
	return res, nil
}

// loadOnce runs xdsload over one protocol against its own Isthmus process,
// so that the process's CPU seconds and peak RSS are that protocol's.
func loadOnce(ctx context.Context, cfg config, w *workDir, bin, meshDir string, delta bool, progress io.Writer) (*xdsload.Report, error) {
	logDir := filepath.Join(w.dir, "xds-"+protocolName(delta))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	is, err := localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{
		Bin: bin, ConfigDir: meshDir, LogDir: logDir, ExtraArgs: []string{"--log-level", "warn"},
	})
	if err != nil {
		return nil, err
	}
	defer is.Close()
	opts := loadOptions(cfg, is.XDSAddr, meshDir, delta, progress)
	opts.MetricsURL = "http://" + is.MonitoringAddr + "/metrics"
	report, err := xdsload.Run(ctx, opts)
	if err != nil {
		w.keep = true
		return report, fmt.Errorf("xdsload: %w (isthmus log %s)", err, is.LogPath())
	}
	return report, nil
}

// loadOptions are xdsload's options for one protocol: every scenario, the
// control plane found by its listening port.
func loadOptions(cfg config, target, meshDir string, delta bool, progress io.Writer) xdsload.Options {
	opts := xdsload.DefaultOptions()
	opts.Target, opts.Delta, opts.Proxies = target, delta, cfg.Proxies
	opts.Mesh, opts.ConfigDir = meshSpec(cfg), meshDir
	opts.Scenarios = slices.Clone(xdsload.ChangeScenarios)
	opts.Changes, opts.Rate, opts.ConnectRate = cfg.Changes, cfg.Rate, cfg.ConnectRate
	opts.ConfigTimeout, opts.SettleTimeout = cfg.ConfigTimeout, cfg.SettleTimeout
	opts.PID = 0
	opts.Progress, opts.Terminal = progress, isTerminal(progress)
	opts.Logger = slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return opts
}

// xdsCommands are the hand-run equivalent of the step, for the record.
func xdsCommands(cfg config, spec meshgen.Spec) []string {
	lines := []string{
		fmt.Sprintf("go run ./bench/cmd/meshgen --out /tmp/mesh --services %d --namespaces %d --endpoints %d --subsets %d --virtual-services %d --sidecars=%t",
			spec.Services, spec.Namespaces, spec.EndpointsPerService, spec.Subsets, spec.VirtualServicesPerNamespace, spec.Sidecars),
		"isthmus serve --config-dir /tmp/mesh --xds-listen 127.0.0.1:15010 --secure-listen \"\" --insecure-identities --monitoring-listen 127.0.0.1:15014 --log-level warn &",
	}
	for _, delta := range cfg.protocols() {
		flags := ""
		if delta {
			flags = " --delta"
		}
		if cfg.ConnectRate > 0 {
			flags += fmt.Sprintf(" --connect-rate %g", cfg.ConnectRate)
		}
		lines = append(lines, fmt.Sprintf("go run ./bench/cmd/xdsload --target 127.0.0.1:15010 --metrics http://127.0.0.1:15014/metrics --config-dir /tmp/mesh --proxies %d%s --changes %d --rate %g --settle-timeout %v --config-timeout %v",
			cfg.Proxies, flags, cfg.Changes, cfg.Rate, cfg.SettleTimeout, cfg.ConfigTimeout))
	}
	return lines
}

// isTerminal reports whether w is a terminal, where progress redraws one
// line instead of printing plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
