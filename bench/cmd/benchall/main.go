package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: 0 when every step ran, 1 when one failed (the
// results are written all the same), 2 on bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchall: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := runAll(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "benchall: %v\n", err)
		return 1
	}
	return 0
}

// runner holds one run's state.
type runner struct {
	cfg      config
	root     string // the repository
	work     *workDir
	res      *results
	progress io.Writer
}

// runAll runs every step not skipped, then writes the results section.
func runAll(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
	root, err := localmesh.RepoRoot()
	if err != nil {
		return err
	}
	work, err := newWorkDir()
	if err != nil {
		return err
	}
	r := &runner{cfg: cfg, root: root, work: work, progress: stderr, res: &results{
		Started: time.Now(), Commit: gitCommit(root), Machine: describeMachine(), Config: cfg,
	}}
	failed := r.runSteps(ctx)
	r.res.Runtime = time.Since(r.res.Started)
	r.res.Machine.LoadEnd = xdsload.LoadAverage()
	if note := work.close(); note != "" {
		fmt.Fprintf(stderr, "benchall: %s\n", note)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; %s left as it was", cfg.Out)
	}
	return r.write(stdout, failed)
}

// runSteps runs the steps in order and returns those that failed.
func (r *runner) runSteps(ctx context.Context) []string {
	steps := []struct {
		name string
		skip bool
		run  func(context.Context) error
	}{
		{stepGoBench, r.cfg.SkipGoBench, r.goBench},
		{stepXDS, r.cfg.SkipXDS, r.xds},
		{stepDataplane, r.cfg.SkipDataplane, r.dataplane},
	}
	var failed []string
	for _, s := range steps {
		outcome := stepOutcome{Name: s.name, Skipped: s.skip}
		if !s.skip && ctx.Err() == nil {
			fmt.Fprintf(r.progress, "benchall: %s…\n", s.name)
			start := time.Now()
			outcome.Err = s.run(ctx)
			outcome.Duration = time.Since(start)
			r.report(outcome)
		}
		if outcome.Err != nil {
			failed = append(failed, s.name)
			r.work.keep = true
		}
		r.res.Steps = append(r.res.Steps, outcome)
	}
	return failed
}

func (r *runner) report(o stepOutcome) {
	if o.Err != nil {
		fmt.Fprintf(r.progress, "benchall: %s failed after %s: %v\n", o.Name, fmtDuration(o.Duration), o.Err)
		return
	}
	fmt.Fprintf(r.progress, "benchall: %s done in %s\n", o.Name, fmtDuration(o.Duration))
}

func (r *runner) goBench(ctx context.Context) (err error) {
	r.res.GoBench, err = runGoBench(ctx, r.cfg, r.root, r.progress)
	return err
}

func (r *runner) xds(ctx context.Context) (err error) {
	r.res.XDS, err = runXDS(ctx, r.cfg, r.work, r.progress)
	return err
}

func (r *runner) dataplane(ctx context.Context) (err error) {
	r.res.Dataplane, err = runDataplane(ctx, r.cfg, r.work)
	return err
}

// write replaces the results section of the output file and prints it.
func (r *runner) write(stdout io.Writer, failed []string) error {
	text := section(r.res)
	out := r.outPath()
	if err := writeSection(out, text); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\nbenchall: results written to %s in %s\n", text, out, fmtDuration(r.res.Runtime.Round(time.Second)))
	if len(failed) > 0 {
		return fmt.Errorf("failed: %v (recorded in %s)", failed, out)
	}
	return nil
}

// outPath is --out; the default is relative to the repository, any other
// relative path to the working directory.
func (r *runner) outPath() string {
	if r.cfg.Out == defaultConfig().Out {
		return filepath.Join(r.root, r.cfg.Out)
	}
	return r.cfg.Out
}
