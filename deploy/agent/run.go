package agent

import (
	"context"
	"time"
)

// Run fetches the credential, then renews it at RenewAt, retrying failures
// with backoff, until ctx ends; it returns ctx's error.
func (a *Agent) Run(ctx context.Context) error {
	log := a.opts.Logger
	backoff := a.opts.MinRetry
	for {
		cred, err := a.Fetch(ctx)
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			wait = backoff
			log.Warn("workload certificate request failed", "ca", a.opts.CAAddress, "error", err, "retry_in", wait)
			backoff = min(2*backoff, a.opts.MaxRetry)
		} else {
			backoff = a.opts.MinRetry
			renewAt := cred.RenewAt()
			wait = max(time.Until(renewAt), a.opts.MinRetry)
			log.Info("workload certificate written", "identity", cred.ID, "dir", a.opts.OutputDir,
				"not_after", cred.NotAfter.UTC(), "renew_at", time.Now().Add(wait).UTC())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
