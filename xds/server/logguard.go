package server

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// What clients send ends up in logs: node ids, rejection messages, errors
// that quote them. A client that means harm, or is broken, sends them as
// long and as often as it likes, so the server bounds both: the strings a
// client controls are cut to a bounded length (clip, clipID), and events a
// client can repeat at will go through a logLimiter.

// Bounds of the client-controlled strings the server logs.
const (
	// maxLoggedID bounds a logged node id; istio-proxy's are typically
	// under 100 bytes.
	maxLoggedID = 256
	// maxLoggedMessage bounds a logged message or error, and the rejection
	// message a proxy's status keeps.
	maxLoggedMessage = 1 << 10
)

// repeatLogInterval is how often at most a logLimiter writes a line for
// one key.
const repeatLogInterval = 10 * time.Second

// clip returns s cut to at most max bytes (at a character boundary),
// followed by how many bytes were left out.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)-cut) + " more bytes)"
}

// clipID is clip for node ids.
func clipID(id string) string { return clip(id, maxLoggedID) }

// clipError is clip for an error's message; "" for nil.
func clipError(err error) string {
	if err == nil {
		return ""
	}
	return clip(err.Error(), maxLoggedMessage)
}

// logKey identifies a repeated event: its kind (the message logged) and
// what it is about (a proxy and type, a refusal reason).
type logKey struct {
	msg, subject, detail string
}

// logLimiter writes repeated events of one key at most once per interval.
// A key's first event is written at once; the ones that follow within the
// interval are held back and counted, and the first line after the
// interval (the next event's, or the latest held one's, written by flush)
// carries the number of events it stands for as "repeated". Every event is
// thus written or counted in a later line. A key is forgotten once it has
// been quiet for an interval, so the limiter holds only recent keys.
// Safe for concurrent use.
type logLimiter struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[logKey]*keyLog
}

// keyLog is what a logLimiter remembers of one key.
type keyLog struct {
	writtenAt time.Time // when the key's last line was written
	held      int       // events since then, not written
	last      heldEvent // the latest of them
}

// heldEvent is an event held back, to be written later.
type heldEvent struct {
	level slog.Level
	args  []any
}

func newLogLimiter(logger *slog.Logger, interval time.Duration) *logLimiter {
	return &logLimiter{log: logger, interval: interval, now: time.Now, keys: map[logKey]*keyLog{}}
}

// logAt writes an event of key at level with args, unless key wrote a
// line less than an interval ago: it is then held back and counted. The
// message is key.msg.
func (l *logLimiter) logAt(level slog.Level, key logKey, args ...any) {
	now := l.now()
	l.mu.Lock()
	k := l.keys[key]
	if k != nil && now.Sub(k.writtenAt) < l.interval {
		k.held++
		k.last = heldEvent{level, args}
		l.mu.Unlock()
		return
	}
	repeated := 1
	if k == nil {
		l.keys[key] = &keyLog{writtenAt: now}
	} else {
		repeated += k.held
		*k = keyLog{writtenAt: now}
	}
	l.mu.Unlock()
	l.write(key, heldEvent{level, args}, repeated)
}

// write writes one line standing for repeated events.
func (l *logLimiter) write(key logKey, e heldEvent, repeated int) {
	args := e.args
	if repeated > 1 {
		args = append(args[:len(args):len(args)], "repeated", repeated)
	}
	l.log.Log(context.Background(), e.level, key.msg, args...)
}

// flush writes, for every key whose last line is an interval old or
// older (all keys when all is set), the events it holds back, and forgets
// the keys that held none.
func (l *logLimiter) flush(all bool) {
	type line struct {
		key      logKey
		event    heldEvent
		repeated int
	}
	var lines []line
	now := l.now()
	l.mu.Lock()
	for key, k := range l.keys {
		switch {
		case !all && now.Sub(k.writtenAt) < l.interval:
		case k.held == 0:
			delete(l.keys, key)
		default:
			lines = append(lines, line{key, k.last, k.held})
			*k = keyLog{writtenAt: now}
		}
	}
	l.mu.Unlock()
	for _, ln := range lines {
		l.write(ln.key, ln.event, ln.repeated)
	}
}

// run flushes every interval until ctx ends, then writes what is still
// held back.
func (l *logLimiter) run(ctx context.Context) {
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			l.flush(false)
		case <-ctx.Done():
			l.flush(true)
			return
		}
	}
}
