package debounce

import (
	"context"
	"time"
)

// Signal notifies c, a channel with room for one notification, unless a
// notification is already pending.
func Signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default: // a notification is already pending
	}
}

// Loop calls fire once notifications on changes have been quiet for quiet,
// or once maxWait has passed since the first notification fire has not
// handled yet. It returns when ctx ends.
func Loop(ctx context.Context, changes <-chan struct{}, quiet, maxWait time.Duration, fire func()) {
	quietTimer, deadline := stoppedTimer(), stoppedTimer()
	defer quietTimer.Stop()
	defer deadline.Stop()
	waiting := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			if !waiting {
				waiting = true
				deadline.Reset(maxWait)
			}
			quietTimer.Reset(quiet)
			continue
		case <-quietTimer.C:
			deadline.Stop()
		case <-deadline.C:
			quietTimer.Stop()
		}
		waiting = false
		fire()
	}
}

// Defaults returns quiet and maxWait with values that are not positive
// replaced by defQuiet and defMaxWait, and maxWait raised to quiet when
// shorter.
func Defaults(quiet, maxWait, defQuiet, defMaxWait time.Duration) (time.Duration, time.Duration) {
	if quiet <= 0 {
		quiet = defQuiet
	}
	if maxWait <= 0 {
		maxWait = defMaxWait
	}
	return quiet, max(maxWait, quiet)
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}
