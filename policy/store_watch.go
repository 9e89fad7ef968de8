package policy

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run watches the directory tree (fsnotify on every directory, new ones
// included, plus the parent so that the directory reappearing is noticed)
// and rescans it about 50ms after the last change, and also periodically as
// a safety net that reads every file again (decoding only those whose
// content changed). After each rescan whose Config or problem list changed,
// it calls onChange. The first rescan happens at once. Run blocks until ctx is
// done and then returns nil.
func (s *Store) Run(ctx context.Context, onChange func(*Config, []*ConfigError)) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("cannot watch %s: %w", s.dir, err)
	}
	defer watcher.Close()
	w := &dirWatcher{fs: watcher, watched: map[string]bool{}}
	w.add(filepath.Dir(filepath.Clean(s.dir)))

	rescan := func(reread bool) {
		cfg, problems, changed := s.rescan(reread)
		w.sync(s.watchedDirs())
		if changed && onChange != nil {
			onChange(cfg, problems)
		}
	}
	rescan(false)

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	ticker := time.NewTicker(s.rescanEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-watcher.Events:
			if ok && s.relevant(ev) {
				debounce.Reset(s.debounce)
			}
		case err, ok := <-watcher.Errors:
			if ok {
				s.logger.Warn("configuration watch error", slog.String("dir", s.dir), slog.String("error", err.Error()))
				debounce.Reset(s.debounce)
			}
		case <-debounce.C:
			rescan(false)
		case <-ticker.C:
			rescan(true) // the safety net trusts no stamp
		}
	}
}

// relevant filters out events in the parent directory about other entries.
func (s *Store) relevant(ev fsnotify.Event) bool {
	dir := filepath.Clean(s.dir)
	return filepath.Dir(ev.Name) != filepath.Dir(dir) || ev.Name == dir
}

// watchedDirs lists the directories the last scan walked.
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

func (w *dirWatcher) add(dir string) {
	if w.parent == "" {
		w.parent = dir
	}
	if err := w.fs.Add(dir); err == nil {
		w.watched[dir] = true
	}
}

// sync watches every directory in dirs (adding a watch again is harmless and
// restores one lost when a directory was removed and recreated) and drops
// the watches on directories no longer found.
func (w *dirWatcher) sync(dirs []string) {
	want := map[string]bool{w.parent: true}
	for _, d := range append(dirs, w.parent) {
		want[d] = true
		w.add(d)
	}
	for d := range w.watched {
		if !want[d] {
			_ = w.fs.Remove(d)
			delete(w.watched, d)
		}
	}
}
