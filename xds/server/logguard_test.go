package server

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// logBuffer collects what a logger writes, from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// logger logs to b in text, at every level.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the lines logged that contain substr.
func (b *logBuffer) lines(substr string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, line := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

func TestClipBoundsLengthAtACharacter(t *testing.T) {
	if got := clip("short", 10); got != "short" {
		t.Errorf("clip kept %q of a short string", got)
	}
	long := strings.Repeat("é", 1000) // 2 bytes each
	got := clip(long, 101)
	if !utf8.ValidString(got) || !strings.HasPrefix(got, strings.Repeat("é", 50)+"…") || !strings.Contains(got, "(1900 more bytes)") {
		t.Errorf("clip(2000 bytes of é, 101) = %q, want 50 é and the 1900 bytes left out", got)
	}
}

// repeatedOf reads the "repeated" count of a line; 1 when it has none.
func repeatedOf(t *testing.T, line string) int {
	t.Helper()
	_, after, ok := strings.Cut(line, "repeated=")
	if !ok {
		return 1
	}
	n, err := strconv.Atoi(strings.Fields(after)[0])
	if err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return n
}

// A key's first event is written at once, the next ones within the
// interval are held, and each later line says how many events it stands
// for, so that the lines account for every event; other keys are not held
// back; a key quiet for an interval is forgotten.
func TestLogLimiterWritesRepeatsOncePerInterval(t *testing.T) {
	logs := &logBuffer{}
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	l := newLogLimiter(logs.logger(), 10*time.Second)
	l.now = clock.Now
	key := logKey{msg: "proxy rejected configuration", subject: "p1", detail: "eds"}
	event := func(n int) { l.logAt(slog.LevelWarn, key, "n", n) }

	events := 0
	for range 100 { // a tight loop: one line
		events++
		event(events)
		clock.advance(time.Millisecond)
	}
	l.logAt(slog.LevelWarn, logKey{msg: "proxy rejected configuration", subject: "p2", detail: "eds"}, "n", 0)
	if got := len(logs.lines("n=")); got != 2 {
		t.Fatalf("%d lines for 100 events of one key and one of another, want 2:\n%s", got, logs.buf.String())
	}
	clock.advance(10 * time.Second)
	events++
	event(events) // the interval has passed: written, standing for the 99 held and itself
	for range 50 {
		events++
		event(events)
	}
	clock.advance(10 * time.Second)
	l.flush(false) // writes the 50 held
	l.flush(false) // nothing more
	total := 0
	for _, line := range logs.lines("n=") {
		if !strings.Contains(line, "n=0") {
			total += repeatedOf(t, line)
		}
	}
	if lines := len(logs.lines("n=")); lines != 4 || total != events {
		t.Errorf("%d lines standing for %d events, want 4 lines for the %d events:\n%s", lines, total, events, logs.buf.String())
	}
	clock.advance(10 * time.Second)
	l.flush(false)
	if len(l.keys) != 0 {
		t.Errorf("%d keys remembered after an interval of quiet, want none", len(l.keys))
	}
}

// A proxy rejecting its endpoints in a tight loop: every rejection is
// counted, one line is logged at once and, when the server stops, one
// more says how many followed; the message logged and shown in
// /debug/proxies is cut to maxLoggedMessage.
func TestRepeatedNACKsAreCountedAndLoggedOnce(t *testing.T) {
	logs := &logBuffer{}
	h := startServerWith(t, Options{Translate: meshTranslate, Secrets: testSecrets(t), InsecureIdentities: true, Logger: logs.logger()})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	node := sidecarNode(t, "app-1")
	c := newSotwClient(t, h.dial(), node)
	c.sync()
	eds := c.last[resource.EndpointType]
	const nacks = 500
	message := "rejected: " + strings.Repeat("m", 4*maxLoggedMessage)
	for range nacks {
		c.nack(eds, message)
	}
	counted := h.server.metrics.nacks.WithLabelValues("eds")
	eventually(t, "every NACK to be counted", func() bool { return metricValue(t, counted) == nacks })
	if lines := logs.lines("proxy rejected configuration"); len(lines) != 1 {
		t.Fatalf("%d lines logged for %d NACKs while the server runs, want 1", len(lines), nacks)
	}
	_, body := h.get("/debug/proxies")
	if strings.Contains(body, strings.Repeat("m", maxLoggedMessage+1)) || !strings.Contains(body, "more bytes") {
		t.Errorf("/debug/proxies does not show the rejection cut to %d bytes", maxLoggedMessage)
	}

	h.server.Stop()
	lines := logs.lines("proxy rejected configuration")
	if len(lines) != 2 || repeatedOf(t, lines[1]) != nacks-1 {
		t.Fatalf("after stop, lines:\n%s\nwant a second one with repeated=%d", strings.Join(lines, "\n"), nacks-1)
	}
	for _, line := range lines {
		if len(line) > 2*maxLoggedMessage {
			t.Errorf("a line of %d bytes logged, want the message cut to %d", len(line), maxLoggedMessage)
		}
	}
}
