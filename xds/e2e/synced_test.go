package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
	"github.com/isthmus-mesh/isthmus/xds/server"
)

// waitSynced waits until every proxy Isthmus's /debug/proxies lists has
// acknowledged, for each type it was sent, the version it is served: what
// a user sees in `isthmus proxy-status` once a change is in effect.
func waitSynced(t *testing.T, is *localmesh.Isthmus, step string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		behind, err := unsynced(is)
		if err == nil && len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: proxies not synced 5 s after the change took effect: %v (%v)", step, behind, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unsynced lists each type a proxy was sent and has not acknowledged at
// the version it is served (STALE, NACKED), as "PROXY TYPE STATE"; a type
// a proxy never asked for (NOT SENT) is not behind.
func unsynced(is *localmesh.Isthmus) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+is.MonitoringAddr+"/debug/proxies", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var proxies []server.ProxyStatus
	if err := json.NewDecoder(resp.Body).Decode(&proxies); err != nil {
		return nil, fmt.Errorf("decode /debug/proxies: %w", err)
	}
	var out []string
	for _, p := range proxies {
		for typ, st := range p.Types {
			if st.State == server.StateStale || st.State == server.StateNacked {
				out = append(out, strings.Join([]string{p.ID, typ, st.State}, " "))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
