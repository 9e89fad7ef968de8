package server

import (
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A push that changes a proxy's endpoints is one trace: the push span and,
// as its children, the debounce, indexing, translation (views built and
// kept), preparation, the EDS response sent and its acknowledgement, which
// ends the trace.
func TestPushIsTracedUntilAcknowledged(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	h := startServerWith(t, Options{Tracer: provider.Tracer("test")})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	c := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	c.sync()
	h.waitAcked(c.node.GetId())

	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.2"}}.snapshot())
	eds := c.next()
	wantType(t, eds.TypeUrl, resource.EndpointType)
	c.accept(eds)

	var root sdktrace.ReadOnlySpan
	eventually(t, "the push of snapshot 2 traced", func() bool {
		root = pushSpan(spans.Ended(), 2)
		return root != nil
	})
	children := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		if s.Parent().SpanID() == root.SpanContext().SpanID() {
			children[s.Name()] = s
		}
	}
	for _, name := range []string{spanDebounce, spanIndex, spanTranslate, spanPrepare, spanSend + "EDS", spanAck} {
		s := children[name]
		if s == nil {
			t.Errorf("no %q span under the push; children: %v", name, keys(children))
			continue
		}
		if s.StartTime().Before(root.StartTime()) || s.EndTime().After(root.EndTime()) {
			t.Errorf("%s [%v, %v] outside the push [%v, %v]", name, s.StartTime(), s.EndTime(), root.StartTime(), root.EndTime())
		}
	}
	if tr := children[spanTranslate]; tr != nil && !hasAttr(tr, attrViewsBuilt) {
		t.Errorf("translate span without %s: %v", attrViewsBuilt, tr.Attributes())
	}
	if root.EndTime().Sub(root.StartTime()) > ackWait-time.Second {
		t.Errorf("the push span lasted %v: it waited for ackWait, not the ACK", root.EndTime().Sub(root.StartTime()))
	}
}

func pushSpan(spans []sdktrace.ReadOnlySpan, version int64) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() != spanPush {
			continue
		}
		for _, a := range s.Attributes() {
			if a.Key == "snapshot.version" && a.Value.AsInt64() == version {
				return s
			}
		}
	}
	return nil
}

func hasAttr(s sdktrace.ReadOnlySpan, key attribute.Key) bool {
	for _, a := range s.Attributes() {
		if a.Key == key {
			return true
		}
	}
	return false
}
