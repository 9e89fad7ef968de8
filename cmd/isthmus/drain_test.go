package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// When serve's context ends (SIGTERM), Isthmus drains: /readyz fails at
// once, each connected proxy's stream is ended with Unavailable, one after
// the other across --drain-duration, and serve returns once the drain is
// logged as finished.
func TestServeDrainsOnStop(t *testing.T) {
	dir := t.TempDir()
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	var logs serveLogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 2)
	done := make(chan error, 1)
	// Two proxies over 4s: the second stream is ended 2s in, and the
	// monitoring server answers until then.
	opts := serveOptions{configDir: dir, xdsListen: "127.0.0.1:0", monitoringListen: "127.0.0.1:0",
		debounce: 10 * time.Millisecond, debounceMax: 50 * time.Millisecond, drainDuration: 4 * time.Second}
	go func() {
		done <- serve(ctx, opts, slog.New(slog.NewTextHandler(&logs, nil)), func(xds, monitoring net.Addr) { addrs <- xds; addrs <- monitoring })
	}()
	var xds, monitoring net.Addr
	select {
	case xds = <-addrs:
		monitoring = <-addrs
	case err := <-done:
		t.Fatalf("serve stopped before listening: %v\n%s", err, logs.String())
	}
	readyz := "http://" + monitoring.String() + "/readyz"
	waitForServeTest(t, "/readyz to return 200", func() bool { code, _ := getServeTestURL(t, readyz); return code == 200 })
	ended := make(chan error, 2)
	for _, pod := range []string{"app-1", "app-2"} {
		stream := openADS(t, xds.String(), pod)
		go func() {
			for {
				if _, err := stream.Recv(); err != nil {
					ended <- err
					return
				}
			}
		}()
	}

	cancel()
	waitForServeTest(t, "/readyz to fail", func() bool { code, _ := getServeTestURL(t, readyz); return code == 503 })
	for range 2 {
		select {
		case err := <-ended:
			if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "draining") {
				t.Errorf("stream ended with %v, want Unavailable saying Isthmus is draining", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("stream still open after the drain period")
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
	if !strings.Contains(logs.String(), "xDS drain finished") {
		t.Errorf("no line saying the drain finished in:\n%s", logs.String())
	}
}

// openADS opens an ADS stream to addr as the sidecar of pod, waits for its
// first response and acknowledges it, as Envoy does.
func openADS(t *testing.T, addr, pod string) discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "sidecar~10.0.0.1~" + pod + ".default~default.svc.cluster.local"}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("no first response: %v", err)
	}
	ack := &discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}
	if err := stream.Send(ack); err != nil {
		t.Fatal(err)
	}
	return stream
}

func TestServeRefusesANegativeDrainDuration(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runServe([]string{"--config-dir", ".", "--drain-duration", "-1s"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "--drain-duration") {
		t.Errorf("exit %d, stderr %q; want 2 naming --drain-duration", code, stderr.String())
	}
}
