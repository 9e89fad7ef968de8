package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestAnswerNamesServerAndCaller: GET / says which pod and cloud answered
// and echoes the identity the caller's sidecar proved.
func TestAnswerNamesServerAndCaller(t *testing.T) {
	srv := httptest.NewServer(newHandler(Identity{App: "service-b", Pod: "b-1", Namespace: "shop", Cloud: "gcp", Version: "v2"}))
	defer srv.Close()
	const xfcc = `By=spiffe://cluster.local/ns/shop/sa/service-b;URI=spiffe://cluster.local/ns/shop/sa/frontend-service`
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/items", nil)
	req.Header.Set("X-Forwarded-Client-Cert", xfcc)
	var got Answer
	getJSON(t, req, &got)
	if got.Pod != "b-1" || got.Cloud != "gcp" || got.Version != "v2" || got.Path != "/api/v1/items" || got.ClientCert != xfcc {
		t.Errorf("answer = %+v", got)
	}
}

// TestCallReportsWhatCameBack: /call fetches a URL from the app and
// returns the status and body, or the error for an unreachable one.
func TestCallReportsWhatCameBack(t *testing.T) {
	backend := httptest.NewServer(newHandler(Identity{Pod: "backend"}))
	defer backend.Close()
	app := httptest.NewServer(newHandler(Identity{Pod: "client"}))
	defer app.Close()

	var ok CallResult
	getJSON(t, mustRequest(t, app.URL+"/call?url="+url.QueryEscape(backend.URL+"/")), &ok)
	var inner Answer
	if ok.Status != 200 || json.Unmarshal([]byte(ok.Body), &inner) != nil || inner.Pod != "backend" {
		t.Errorf("call to backend = %+v", ok)
	}
	backend.Close()
	var failed CallResult
	getJSON(t, mustRequest(t, app.URL+"/call?url="+url.QueryEscape(backend.URL+"/")), &failed)
	if failed.Error == "" || failed.Status != 0 {
		t.Errorf("call to a closed server = %+v, want an error", failed)
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func getJSON(t *testing.T, req *http.Request, v any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", req.URL, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
