package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// Flags may come before or after PROXY; without --server the default
// monitoring URL is asked.
func TestProxyStatusFlagsAroundProxy(t *testing.T) {
	opts, err := parseProxyStatusFlags([]string{"--server", "http://a:1", "app.default", "--envoy-admin", "http://b:2", "--server", "http://c:3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.proxy != "app.default" || opts.envoyAdmin != "http://b:2" || strings.Join(opts.servers, " ") != "http://a:1 http://c:3" {
		t.Errorf("parsed %+v", opts)
	}
	opts, err = parseProxyStatusFlags(nil, io.Discard)
	if err != nil || len(opts.servers) != 1 || opts.servers[0] != defaultMonitoringURL {
		t.Errorf("defaults %+v, %v", opts, err)
	}
	if _, err := parseProxyStatusFlags([]string{"a", "b"}, io.Discard); err == nil {
		t.Error("two proxies accepted")
	}
}

// With no replica readable the command fails, naming the replica.
func TestProxyStatusFailsWithoutAReplica(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"proxy-status", "--server", "http://" + addr}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), addr) || !strings.Contains(stderr.String(), "no replica could be read") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
