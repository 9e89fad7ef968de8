package policy

import "log/slog"

// holdEmptied returns the objects a file found empty defined before, when
// they are still to be served: until emptyGrace has passed since the first
// scan that found the file empty, so that an editor truncating a file before
// writing it causes no outage. It returns nil when the file is not empty,
// defined nothing, or its grace is over (its objects are then removed).
func (s *Store) holdEmptied(b *scanBuild, path string, cf *cachedFile) []Definition {
	if !cf.empty {
		return nil
	}
	since, seen := s.emptied[path]
	if !seen {
		since = b.opts.start
	}
	due := since.Add(s.emptyGrace)
	if !b.opts.start.Before(due) {
		return nil
	}
	kept := s.retained(path, nil)
	if len(kept) == 0 {
		return nil
	}
	if !seen {
		s.logger.Info("configuration file found empty; keeping its objects in case it is being rewritten",
			slog.String("file", path), slog.Int("objects", len(kept)), slog.Duration("for", s.emptyGrace))
	}
	b.emptied[path] = since
	b.notes.recheckBy(due)
	return kept
}
