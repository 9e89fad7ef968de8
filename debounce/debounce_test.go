package debounce

import (
	"context"
	"testing"
	"time"
)

// startLoop runs Loop until the test ends and returns its notification
// channel and a channel receiving one value per call of fire.
func startLoop(t *testing.T, quiet, maxWait time.Duration) (chan struct{}, chan struct{}) {
	changes, fired := make(chan struct{}, 1), make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop(ctx, changes, quiet, maxWait, func() { fired <- struct{}{} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return changes, fired
}

// A burst of notifications is handled by one call.
func TestBurstIsHandledOnce(t *testing.T) {
	changes, fired := startLoop(t, 20*time.Millisecond, time.Hour)
	for range 50 {
		Signal(changes)
	}
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("the burst was never handled")
	}
	select {
	case <-fired:
		t.Fatal("the burst was handled twice")
	case <-time.After(200 * time.Millisecond):
	}
}

// Notifications that never pause are still handled, at the maximum wait.
func TestMaximumWaitBoundsAnEndlessStream(t *testing.T) {
	changes, fired := startLoop(t, time.Hour, 30*time.Millisecond)
	stop := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-fired:
			return
		case <-stop:
			t.Fatal("an endless stream of notifications was never handled")
		case <-tick.C:
			Signal(changes)
		}
	}
}

// Nothing is handled without a notification, and Loop returns with its
// context.
func TestLoopWaitsForNotifications(t *testing.T) {
	_, fired := startLoop(t, time.Millisecond, time.Millisecond)
	select {
	case <-fired:
		t.Fatal("handled without a notification")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct{ quiet, maxWait, wantQuiet, wantMax time.Duration }{
		{0, 0, time.Second, 5 * time.Second},
		{2 * time.Second, 0, 2 * time.Second, 5 * time.Second},
		{10 * time.Second, 0, 10 * time.Second, 10 * time.Second},
		{-1, 3 * time.Second, time.Second, 3 * time.Second},
	} {
		q, m := Defaults(tc.quiet, tc.maxWait, time.Second, 5*time.Second)
		if q != tc.wantQuiet || m != tc.wantMax {
			t.Errorf("Defaults(%v, %v) = %v, %v; want %v, %v", tc.quiet, tc.maxWait, q, m, tc.wantQuiet, tc.wantMax)
		}
	}
}
