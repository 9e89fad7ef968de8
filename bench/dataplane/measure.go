package dataplane

import (
	"context"
	"fmt"
	"log/slog"
)

// measureAll sets up every scenario at once, warms each up, then measures
// them in interleaved rounds (direct, isthmus, static; then isthmus,
// static, direct; …) so that background load on a shared machine weighs
// on every scenario alike rather than on whichever ran during a busy
// spell.
func measureAll(ctx context.Context, env *environment, gen loadGenerator, opts Options, report *Report) error {
	paths, err := startPaths(ctx, env, gen, opts)
	defer closePaths(paths)
	if err != nil {
		return err
	}
	acc := map[string]*accumulator{}
	for _, name := range opts.Scenarios {
		acc[name] = &accumulator{}
	}
	for round := range opts.Rounds {
		for _, name := range rotate(opts.Scenarios, round) {
			slog.Info("data-plane round", "scenario", name, "round", round+1, "of", opts.Rounds, "duration", opts.roundDuration())
			if err := measureRound(ctx, env, gen, opts, paths[name], acc[name]); err != nil {
				return fmt.Errorf("scenario %s, round %d: %w", name, round+1, err)
			}
		}
	}
	for _, name := range opts.Scenarios {
		report.Results = append(report.Results, acc[name].result(name))
	}
	report.Target = checkTarget(report.Results)
	return nil
}

// startPaths sets up each scenario, waits until a request crosses it and
// warms it up. The paths started so far are returned even on error, for
// closing.
func startPaths(ctx context.Context, env *environment, gen loadGenerator, opts Options) (map[string]*path, error) {
	paths := map[string]*path{}
	for _, name := range opts.Scenarios {
		p, err := startPath(ctx, env, name)
		if err != nil {
			return paths, fmt.Errorf("scenario %s: %w", name, err)
		}
		paths[name] = p
		if err := warmUp(ctx, gen, opts, p); err != nil {
			return paths, fmt.Errorf("scenario %s: %w", name, err)
		}
	}
	return paths, nil
}

func closePaths(paths map[string]*path) {
	for _, p := range paths {
		p.close()
	}
}

// warmUp waits until the path answers, then sends the warm-up load.
func warmUp(ctx context.Context, g loadGenerator, opts Options, p *path) error {
	if err := waitServed(ctx, p.target, opts.PayloadBytes); err != nil {
		return err
	}
	if opts.Warmup <= 0 {
		return nil
	}
	if _, err := g.Run(ctx, p.target, opts.load(opts.Warmup)); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	return nil
}

// measureRound sends one round's load through p, reading the hop counters
// around it, and adds both to acc.
func measureRound(ctx context.Context, env *environment, g loadGenerator, opts Options, p *path, acc *accumulator) error {
	before, err := p.readHops(ctx, env.app)
	if err != nil {
		return err
	}
	m, err := g.Run(ctx, p.target, opts.load(opts.roundDuration()))
	if err != nil {
		return err
	}
	after, err := p.readHops(ctx, env.app)
	if err != nil {
		return err
	}
	if err := p.checkRunning(); err != nil {
		return err
	}
	acc.add(m, p.hopCounts(before, after))
	return nil
}

// startPath sets up one scenario.
func startPath(ctx context.Context, env *environment, name string) (*path, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	switch name {
	case ScenarioIsthmus:
		return startIsthmusPath(ctx, env)
	case ScenarioStatic:
		return startStaticPath(ctx, env)
	}
	return &path{target: target{URL: "http://" + env.app.addr + "/"}, close: func() {}}, nil
}

// rotate returns names starting at index round (mod len), wrapping around.
func rotate(names []string, round int) []string {
	if len(names) == 0 {
		return nil
	}
	k := round % len(names)
	return append(append([]string(nil), names[k:]...), names[:k]...)
}
