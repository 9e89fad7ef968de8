package kube

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// When the API server goes away the cluster turns stale with one WARN
// line, its last endpoints stay served, and changes made meanwhile reach
// the catalog within 5 s of its return, which logs the outage's length.
func TestOutageKeepsEndpointsAndResyncsFastOnReturn(t *testing.T) {
	api := newFaultyAPI(t, web("10.1.0.1"))
	var logs logBuffer
	reg, err := New(api, Options{ClusterID: "east", Logger: logs.logger(), Debounce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runRegistry(t, reg)
	if err := reg.WaitForSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := reg.Status()
	if before.Stale || !before.Synced || before.LastSync.IsZero() {
		t.Fatalf("synced status: %+v", before)
	}
	c := &cluster{t: t, client: api.Clientset, reg: reg}

	api.stop()
	eventually(t, "cluster stale after its watches fail", func() bool { return reg.Status().Stale })
	st := reg.Status()
	if !strings.Contains(st.Error, "connection refused") || st.Since.IsZero() || st.FromState || !st.Synced {
		t.Errorf("status during the outage: %+v", st)
	}
	c.apply(web("10.1.0.1", "10.1.0.2")) // unseen until the API server is back
	time.Sleep(2500 * time.Millisecond)  // several probes and watch retries
	if got := addressesOf(reg.Catalog(), webKey); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Errorf("during the outage: endpoints %v, want the last known ones", got)
	}
	if got := logs.lines("level=WARN"); len(got) != 1 || !strings.Contains(got[0], "cluster=east") ||
		!strings.Contains(got[0], "unreachable") || !strings.Contains(got[0], "connection refused") {
		t.Errorf("want one WARN line naming the cluster and the error, got:\n%s", logs.String())
	}

	back := time.Now()
	api.restart()
	c.waitFor("the change made during the outage", hasAddresses("10.1.0.1", "10.1.0.2"))
	took := time.Since(back)
	t.Logf("changes flow again %v after the API server's return", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("changes flowed again after %v, want within 5s", took)
	}
	// The old informers may see the change first, once their backoff ends;
	// the new ones end the outage.
	eventually(t, "cluster current again", func() bool { return !reg.Status().Stale })
	if took := time.Since(back); took > 5*time.Second {
		t.Errorf("cluster current again after %v, want within 5s", took)
	}
	after := reg.Status()
	if after.Error != "" || !after.Since.IsZero() || !after.LastSync.After(back) {
		t.Errorf("status after the outage: %+v", after)
	}
	recovered := logs.lines("level=WARN", "reachable again", "cluster=east", "outage=")
	if len(recovered) != 1 {
		t.Errorf("want one WARN line with the outage's length, got:\n%s", logs.String())
	}

	// The new informers follow later changes.
	c.apply(web("10.1.0.2"))
	c.waitFor("a change after the outage", hasAddresses("10.1.0.2"))
}

// Errors a reflector handles in its stride (a watch ending, an expired
// resource version, throttling, stopping) are no outage.
func TestIsOutage(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	ctx := t.Context()
	for _, err := range []error{
		nil,
		apierrors.NewResourceExpired("too old resource version"),
		apierrors.NewGone("gone"),
		apierrors.NewTooManyRequests("slow down", 1),
	} {
		if isOutage(ctx, err) {
			t.Errorf("isOutage(%v) = true", err)
		}
	}
	for _, err := range []error{
		errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"),
		apierrors.NewForbidden(gr, "", errors.New("RBAC")),
		apierrors.NewServiceUnavailable("starting"),
	} {
		if !isOutage(ctx, err) {
			t.Errorf("isOutage(%v) = false", err)
		}
	}
}

func TestRestartDelayDoublesToItsCap(t *testing.T) {
	var got []time.Duration
	for n := range 8 {
		got = append(got, restartDelay(n))
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("restartDelay: %v, want %v", got, want)
	}
}
