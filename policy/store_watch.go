package policy

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Retries after a scan that could not read everything, or a directory that
// could not be watched: the first after retryMin, each later one twice as
// late, at most retryMax (or the periodic rescan's interval, if shorter).
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// Run watches the directory tree (fsnotify on every directory, new ones
// included, plus the parent so that the directory reappearing is noticed)
// and rescans it about 50ms after the last change, and also periodically as
// a safety net that reads every file again (decoding only those whose
// content changed). A scan that could not read a directory or a file (too
// many open files, say) keeps the watches it had and is retried with
// backoff until it reads everything; so is a directory that could not be
// watched. An emptied file is checked again when its grace ends. Reload
// requests a rescan that reads every file, logged at info level. After each
// rescan whose Config or problem list changed, Run calls onChange. The first
// rescan happens at once. Run blocks until ctx is done and then returns nil.
func (s *Store) Run(ctx context.Context, onChange func(*Config, []*ConfigError)) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("cannot watch %s: %w", s.dir, err)
	}
	defer watcher.Close()
	l := &runLoop{
		s:        s,
		w:        &dirWatcher{fs: watcher, watched: map[string]bool{}},
		onChange: onChange,
		retry:    backoff{min: retryMin, max: min(retryMax, s.rescanEvery)},
		debounce: stoppedTimer(),
		wake:     stoppedTimer(),
	}
	l.w.add(filepath.Dir(filepath.Clean(s.dir)))
	l.rescan(false)
	ticker := time.NewTicker(s.rescanEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-watcher.Events:
			if ok && s.relevant(ev) {
				l.debounce.Reset(s.debounce)
			}
		case err, ok := <-watcher.Errors:
			if ok {
				s.logger.Warn("configuration watch error", slog.String("dir", s.dir), slog.String("error", err.Error()))
				l.debounce.Reset(s.debounce)
			}
		case <-l.debounce.C:
			l.rescan(false)
		case <-l.wake.C:
			l.rescan(false)
		case <-s.reload:
			l.reload()
		case <-ticker.C:
			l.rescan(true) // the safety net trusts no stamp
		}
	}
}

// runLoop is the state of one Run.
type runLoop struct {
	s        *Store
	w        *dirWatcher
	onChange func(*Config, []*ConfigError)
	retry    backoff
	failing  bool        // the last scan or watch failed
	debounce *time.Timer // quiet period after a change
	wake     *time.Timer // retry after a failure, or end of an emptied file's grace
}

// rescan scans, brings the watches in line, schedules the next wake-up and
// reports a change.
func (l *runLoop) rescan(reread bool) scanReport {
	rep := l.s.rescan(reread)
	watched := l.w.sync(l.s.watchedDirs())
	l.schedule(rep, watched)
	if rep.changed && l.onChange != nil {
		l.onChange(rep.config, rep.problems)
	}
	return rep
}

// reload serves a Reload request.
func (l *runLoop) reload() {
	rep := l.rescan(true)
	l.s.logger.Info("configuration re-read", slog.String("dir", l.s.dir), slog.Int("objects", rep.config.Len()),
		slog.Int("problems", len(rep.problems)), slog.Bool("changed", rep.changed))
}

// schedule sets the wake-up timer after a scan: soon, backing off, when the
// scan could not read everything or a directory could not be watched; at the
// end of the earliest grace of an emptied file otherwise (whichever comes
// first when both apply).
func (l *runLoop) schedule(rep scanReport, watched bool) {
	l.wake.Stop()
	var wait time.Duration
	due := false
	if rep.failed || !watched {
		wait, due = l.retry.next(), true
		l.failing = true
		l.s.logger.Debug("configuration scan incomplete; scanning again", slog.String("dir", l.s.dir), slog.Duration("in", wait))
	} else {
		l.recovered()
	}
	if !rep.recheckAt.IsZero() {
		if until := max(rep.recheckAt.Sub(l.s.now()), 0); !due || until < wait {
			wait, due = until, true
		}
	}
	if due {
		l.wake.Reset(wait)
	}
}

// recovered notes a scan that read everything and watches every directory.
func (l *runLoop) recovered() {
	if l.failing {
		l.s.logger.Info("configuration directory read and watched in full again", slog.String("dir", l.s.dir))
	}
	l.failing = false
	l.retry.reset()
}

// stoppedTimer returns a timer that has not been started.
func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// backoff yields growing delays between retries.
type backoff struct {
	min, max, cur time.Duration
}

// next returns the delay before the next retry: min at first, then twice
// the previous one, at most max.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = min(b.min, b.max)
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

// reset starts the delays over.
func (b *backoff) reset() { b.cur = 0 }

// relevant filters out events in the parent directory about other entries.
func (s *Store) relevant(ev fsnotify.Event) bool {
	dir := filepath.Clean(s.dir)
	return filepath.Dir(ev.Name) != filepath.Dir(dir) || ev.Name == dir
}

// watchedDirs lists the directories to watch.
func (s *Store) watchedDirs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirs
}

// dirWatcher keeps fsnotify watches in line with the directories found.
type dirWatcher struct {
	fs      *fsnotify.Watcher
	watched map[string]bool
	parent  string
}

// add watches dir and reports whether it could.
func (w *dirWatcher) add(dir string) bool {
	if w.parent == "" {
		w.parent = dir
	}
	if err := w.fs.Add(dir); err != nil {
		return false
	}
	w.watched[dir] = true
	return true
}

// sync watches every directory in dirs (adding a watch again is harmless and
// restores one lost when a directory was removed and recreated) and drops
// the watches on directories no longer listed. It reports whether every
// directory is watched.
func (w *dirWatcher) sync(dirs []string) bool {
	want := map[string]bool{w.parent: true}
	all := w.add(w.parent)
	for _, d := range dirs {
		want[d] = true
		all = w.add(d) && all
	}
	for d := range w.watched {
		if !want[d] {
			_ = w.fs.Remove(d)
			delete(w.watched, d)
		}
	}
	return all
}
