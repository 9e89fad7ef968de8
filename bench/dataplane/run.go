package dataplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// Timeouts of the steps around the measured load.
const (
	setupTimeout = 2 * time.Minute  // start Isthmus and the Envoys of a scenario
	readyTimeout = 30 * time.Second // until one request crosses the path
)

// descriptions say what path each scenario's requests take.
var descriptions = map[string]string{
	ScenarioDirect:  "client → server",
	ScenarioIsthmus: "client → sidecar → sidecar → server, both Envoys configured by Isthmus",
	ScenarioStatic:  "client → Envoy → Envoy → server, hand-written static config",
}

// environment is what the scenarios of one run share.
type environment struct {
	workDir    string
	logDir     string
	app        *app
	envoyBin   string
	isthmusBin string
}

// Run sets up the scenarios of opts, measures them in interleaved rounds
// and reports the figures. It fails when a scenario cannot be set up or its
// load cannot be sent; the report then has no results and the work
// directory (logs, configuration) is kept.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	gen, err := chooseLoadGenerator(opts.LoadGenerator)
	if err != nil {
		return nil, err
	}
	env, err := newEnvironment(opts)
	if err != nil {
		return nil, err
	}
	report := newReport(opts, gen, env.envoyBin)
	err = measureAll(ctx, env, gen, opts, report)
	env.close(opts.KeepWorkDir || err != nil || opts.WorkDir != "")
	if err != nil {
		return report, fmt.Errorf("%w (logs in %s)", err, env.logDir)
	}
	return report, nil
}

// newEnvironment prepares the work directory, finds Envoy and the isthmus
// binary the scenarios need, and starts the application.
func newEnvironment(opts Options) (*environment, error) {
	env := &environment{workDir: opts.WorkDir, isthmusBin: opts.IsthmusBin}
	if err := env.makeDirs(); err != nil {
		return nil, err
	}
	keep := opts.WorkDir != "" // a directory the caller gave is theirs
	if err := env.findBinaries(opts.Scenarios); err != nil {
		env.close(keep)
		return nil, err
	}
	var err error
	if env.app, err = startApp(opts.PayloadBytes); err != nil {
		env.close(keep)
		return nil, err
	}
	return env, nil
}

func (env *environment) makeDirs() error {
	if env.workDir == "" {
		dir, err := os.MkdirTemp("", "isthmus-dataplane-")
		if err != nil {
			return fmt.Errorf("work directory: %w", err)
		}
		env.workDir = dir
	}
	env.logDir = filepath.Join(env.workDir, "logs")
	if err := os.MkdirAll(env.logDir, 0o755); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	return nil
}

// findBinaries locates Envoy when a scenario runs Envoy (a missing Envoy is
// an error that says to run `make tools`), and builds isthmus when the
// Isthmus scenario runs and no binary was given.
func (env *environment) findBinaries(scenarios []string) error {
	needs := map[string]bool{}
	for _, s := range scenarios {
		needs[s] = true
	}
	if needs[ScenarioIsthmus] || needs[ScenarioStatic] {
		bin, err := localmesh.EnvoyPath()
		if err != nil {
			return err
		}
		env.envoyBin = bin
	}
	if needs[ScenarioIsthmus] && env.isthmusBin == "" {
		bin, err := localmesh.BuildIsthmus(env.workDir)
		if err != nil {
			return err
		}
		env.isthmusBin = bin
	}
	return nil
}

// close stops the application and removes the work directory unless keep.
func (env *environment) close(keep bool) {
	if env.app != nil {
		env.app.close()
	}
	if !keep {
		_ = os.RemoveAll(env.workDir)
	}
}
