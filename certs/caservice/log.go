package caservice

import (
	"log/slog"
	"sync"
	"time"
)

// limitedLog writes one WARN line per key per interval, and counts the
// lines it holds back, so a misbehaving or hostile client cannot flood the
// log. Keys must come from a small set (never a client's string).
type limitedLog struct {
	logger *slog.Logger
	every  time.Duration

	mu   sync.Mutex
	next map[string]time.Time // key → when it may be logged again
	held map[string]int       // key → lines held back since
}

func newLimitedLog(logger *slog.Logger, every time.Duration) *limitedLog {
	return &limitedLog{logger: logger, every: every, next: map[string]time.Time{}, held: map[string]int{}}
}

func (l *limitedLog) warn(key, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if now.Before(l.next[key]) {
		l.held[key]++
		l.mu.Unlock()
		return
	}
	held := l.held[key]
	delete(l.held, key)
	l.next[key] = now.Add(l.every)
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "heldBack", held)
	}
	l.logger.Warn(msg, args...)
}
