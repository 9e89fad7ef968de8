package server

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/isthmus-mesh/isthmus/certs"
)

// h2Preface is what an HTTP/2 client sends first: the connection preface
// and an empty SETTINGS frame.
var h2Preface = append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)

// openIdle opens n connections to the server through dial, each speaking
// HTTP/2 up to the server's SETTINGS, then idle, as a proxy between pushes.
func openIdle(t *testing.T, n int, dial func() (net.Conn, error)) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(30 * time.Second)) // hang guard only
		if _, err := c.Write(h2Preface); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 9)); err != nil { // the server's first frame header
			t.Fatalf("server's SETTINGS: %v", err)
		}
	}
	return conns
}

// heapPerConn is how much the heap grows per connection opened by open.
func heapPerConn(n int, open func()) int {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	open()
	time.Sleep(100 * time.Millisecond) // let the server finish setting up the last connection
	runtime.GC()
	runtime.ReadMemStats(&after)
	return int(after.HeapAlloc-before.HeapAlloc) / n
}

// An idle connection on the secure port costs the server little more
// than a plaintext one: crypto/tls's state, not another read buffer.
// Both sides are in this process; the client side of a raw TLS
// connection is a few KiB of the difference.
func TestTLSConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	const n = 200
	h := startTLSServer(t, stubAuthenticator{})
	plain := startServerWith(t, Options{})
	tlsConf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}} //nolint:gosec // the test measures the server
	plainCost := heapPerConn(n, func() {
		openIdle(t, n, func() (net.Conn, error) { return net.Dial("tcp", plain.addr) })
	})
	tlsCost := heapPerConn(n, func() {
		openIdle(t, n, func() (net.Conn, error) { return tls.Dial("tcp", h.addr, tlsConf) })
	})
	t.Logf("heap per idle connection: plaintext %d B, TLS %d B (both sides)", plainCost, tlsCost)
	if extra := tlsCost - plainCost; extra > maxTLSExtraBytes {
		t.Errorf("a TLS connection costs %d B more than a plaintext one, want at most %d", extra, maxTLSExtraBytes)
	}
}

// maxTLSExtraBytes bounds what TLS adds to an idle connection in
// TestTLSConnectionMemory, the client's side included.
const maxTLSExtraBytes = 16 << 10

// A request spanning many TLS records and HTTP/2 frames (a subscription to
// thousands of names) is read whole on the secure port: the stream is
// pushed the next change.
func TestLargeRequestOverTLS(t *testing.T) {
	app := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "app"}
	h := startTLSServer(t, stubAuthenticator{id: app})
	c := newSotwClient(t, h.dialTLS(), sidecarNode(t, "app-1"))
	c.sync()
	names := slices.Clone(c.names[resource.EndpointType])
	for i := range 3000 {
		names = append(names, fmt.Sprintf("outbound|8080||padding-%04d.default.svc.cluster.local", i))
	}
	c.subscribe(resource.EndpointType, names)
	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.2"}}.snapshot())
	for {
		if resp := c.next(); resp.TypeUrl == resource.EndpointType && resp.VersionInfo != c.last[resource.EndpointType].GetVersionInfo() {
			return
		}
	}
}
