package localmesh

import (
	"context"
	"fmt"
	"time"
)

// pollInterval is how often the harness re-checks a condition it waits for.
const pollInterval = 50 * time.Millisecond

// waitFor calls check until it returns nil, or ctx ends; the last check
// error explains a timeout.
func waitFor(ctx context.Context, what string, check func() error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-ticker.C:
		}
	}
}
