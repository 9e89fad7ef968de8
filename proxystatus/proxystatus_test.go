package proxystatus

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/isthmus-mesh/isthmus/xds/server"
)

func replica(t *testing.T, statuses ...server.ProxyStatus) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/proxies" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(statuses)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func status(id, replica string, lds server.TypeStatus) server.ProxyStatus {
	synced := server.TypeStatus{State: server.StateSynced}
	return server.ProxyStatus{ID: id, Type: "sidecar", Namespace: "default", ClusterID: "east", Replica: replica,
		Types: map[string]server.TypeStatus{"cds": synced, "lds": lds, "eds": synced, "rds": synced,
			"sds": {State: server.StateNotSent}}}
}

// Rows of every replica come sorted by proxy; a replica that fails is
// reported and the others' rows kept; a replica without a name is named
// by its URL.
func TestGatherAggregatesReplicas(t *testing.T) {
	a := replica(t, status("sidecar~b", "a", server.TypeStatus{State: server.StateSynced}))
	b := replica(t, status("sidecar~a", "", server.TypeStatus{State: server.StateNacked, Rejected: "cannot bind\n"}))
	broken := httptest.NewServer(http.NotFoundHandler())
	defer broken.Close()
	rows, errs := Gather(context.Background(), http.DefaultClient, []string{a.URL, b.URL, broken.URL})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), broken.URL) || !strings.Contains(errs[0].Error(), "404") {
		t.Errorf("errors %v, want one naming the broken replica and its status", errs)
	}
	if len(rows) != 2 || rows[0].ID != "sidecar~a" || rows[0].Replica != b.URL || rows[1].Replica != "a" {
		t.Fatalf("rows %+v", rows)
	}
	var out bytes.Buffer
	if err := WriteTable(&out, rows); err != nil {
		t.Fatal(err)
	}
	want := "NAME       CLUSTER  NAMESPACE  TYPE     CDS     LDS     EDS     RDS     SDS       REPLICA\n" +
		"sidecar~a  east     default    sidecar  SYNCED  NACKED  SYNCED  SYNCED  NOT SENT  " + b.URL + "\n" +
		"sidecar~b  east     default    sidecar  SYNCED  SYNCED  SYNCED  SYNCED  NOT SENT  a\n" +
		"sidecar~a LDS NACKED (replica " + b.URL + "): cannot bind\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}

// An exact node id wins over ids that contain it.
func TestFindPrefersTheExactID(t *testing.T) {
	rows := []Row{{ProxyStatus: server.ProxyStatus{ID: "sidecar~1~app.ns~x"}}, {ProxyStatus: server.ProxyStatus{ID: "app.ns"}}}
	if got := Find(rows, "app.ns"); len(got) != 1 || got[0].ID != "app.ns" {
		t.Errorf("Find exact: %v", got)
	}
	if got := Find(rows, "1~app"); len(got) != 1 || got[0].ID != "sidecar~1~app.ns~x" {
		t.Errorf("Find partial: %v", got)
	}
	if got := Find(rows, "nothing"); len(got) != 0 {
		t.Errorf("Find none: %v", got)
	}
}
