package consulbench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Options configure a run; DefaultOptions is a quick one.
type Options struct {
	Services, Instances int
	Proxies             int
	Delta               bool
	// Churn is instance moves per second, over Duration; Writers bounds
	// the Consul writes in flight (churn and registration).
	Churn    float64
	Duration time.Duration
	Writers  int
	// IsthmusBin is the isthmus binary; WorkDir holds its log and state.
	IsthmusBin, WorkDir string
	// IsthmusArgs are extra isthmus serve flags.
	IsthmusArgs []string
	ConnectRate float64
	// Timeouts: setup (Consul, registration, Isthmus), the connect storm,
	// and the wait for a phase's last change.
	SetupTimeout, ConfigTimeout, SettleTimeout time.Duration
	Progress                                   io.Writer
	Logger                                     *slog.Logger
}

// DefaultOptions: 100 services × 3 instances, 50 sidecars, 20 moves/s
// for 20 s.
func DefaultOptions() Options {
	return Options{Services: 100, Instances: 3, Proxies: 50, Delta: true, Churn: 20, Duration: 20 * time.Second, Writers: 8,
		SetupTimeout: 5 * time.Minute, ConfigTimeout: 5 * time.Minute, SettleTimeout: time.Minute}
}

func (o Options) validate() error {
	var errs []error
	if o.Services < 1 || o.Services > 32000 {
		errs = append(errs, fmt.Errorf("services %d: want 1..32000", o.Services))
	}
	if o.Instances < 1 || o.Instances > 9 {
		errs = append(errs, fmt.Errorf("instances %d: want 1..9", o.Instances))
	}
	if o.Proxies < 1 || o.Churn <= 0 || o.Duration <= 0 || o.Writers < 1 {
		errs = append(errs, errors.New("proxies, churn, duration and writers must be positive"))
	}
	if o.IsthmusBin == "" || o.WorkDir == "" {
		errs = append(errs, errors.New("IsthmusBin and WorkDir are required"))
	}
	return errors.Join(errs...)
}
