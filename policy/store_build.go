package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// scanBuild gathers what one successful scan finds, file by file.
type scanBuild struct {
	opts     scanOptions
	defs     []Definition
	problems []*ConfigError
	cache    map[string]*cachedFile
	fileKeys map[string][]Key
	emptied  map[string]time.Time
	notes    scanNotes
}

// scanNotes is what a scan learned besides objects and problems.
type scanNotes struct {
	failed    bool      // a directory or file could not be read
	recheckAt time.Time // the earliest end of an emptied file's grace; zero if none
}

// recheckBy makes sure the notes ask for a scan at t at the latest.
func (n *scanNotes) recheckBy(t time.Time) {
	if n.recheckAt.IsZero() || t.Before(n.recheckAt) {
		n.recheckAt = t
	}
}

// build computes the object versions to serve and the problems for one
// successful scan, and remembers what it served.
func (s *Store) build(scan scanResult, opts scanOptions) (map[Key]*Object, []*ConfigError, scanNotes) {
	b := &scanBuild{
		opts:     opts,
		defs:     make([]Definition, 0, len(s.lastGood)+len(scan.files)),
		cache:    make(map[string]*cachedFile, len(scan.files)),
		fileKeys: make(map[string][]Key, len(scan.files)),
		emptied:  map[string]time.Time{},
	}
	for _, f := range scan.files {
		s.addFile(b, f)
	}
	s.addUnreadableDirs(b, scan)
	sortDefinitions(b.defs)
	served, acceptProblems := Accept(s.lastGood, b.defs)
	problems := append(b.problems, acceptProblems...)
	sortProblems(problems)
	s.cache, s.fileKeys, s.lastGood, s.emptied = b.cache, b.fileKeys, served, b.emptied
	s.defs, s.defProblems = b.defs, b.problems
	return served, problems, b.notes
}

// addFile adds the definitions and problems of one found file.
func (s *Store) addFile(b *scanBuild, f foundFile) {
	defs, keys, problems, cf := s.fileDefinitions(b, f)
	if cf != nil {
		b.cache[f.path] = cf
	}
	b.defs = append(b.defs, defs...)
	b.problems = append(b.problems, problems...)
	if len(keys) > 0 {
		b.fileKeys[f.path] = keys
	}
}

// addUnreadableDirs reports the subdirectories that could not be listed and
// keeps the objects of the files that were under them.
func (s *Store) addUnreadableDirs(b *scanBuild, scan scanResult) {
	for _, dir := range scan.unreadable {
		b.problems = append(b.problems, &ConfigError{Source: Source{File: dir}, Msg: "cannot read directory (keeping the objects of its files)"})
		b.notes.failed = true
	}
	for path, kept := range s.retainedFromUnreadableDirs(scan) {
		b.defs = append(b.defs, kept...)
		b.fileKeys[path] = append(b.fileKeys[path], keysOf(kept)...)
	}
}

func keysOf(defs []Definition) []Key {
	if len(defs) == 0 {
		return nil
	}
	keys := make([]Key, len(defs))
	for i, d := range defs {
		keys[i] = d.Key
	}
	return keys
}

// fileDefinitions returns the definitions of one found file, their keys and
// the file's problems. A file that cannot be read, is too large or is broken
// also keeps the objects it defined before that it no longer defines; so
// does, for a while, a file found empty (see holdEmptied).
func (s *Store) fileDefinitions(b *scanBuild, f foundFile) ([]Definition, []Key, []*ConfigError, *cachedFile) {
	err := f.err
	var cf *cachedFile
	if err == nil {
		cf, err = s.decodedVersion(f, b.opts)
	}
	if err != nil {
		kept := s.retained(f.path, nil)
		return kept, keysOf(kept), []*ConfigError{s.unreadProblem(b, f.path, err)}, nil
	}
	if kept := s.holdEmptied(b, f.path, cf); kept != nil {
		return kept, keysOf(kept), nil, cf
	}
	if !cf.broken {
		return cf.defs, cf.keys, cf.errs, cf
	}
	defs := append(slices.Clip(cf.defs), s.retained(f.path, cf.defs)...)
	return defs, keysOf(defs), cf.errs, cf
}

// unreadProblem is the problem of a file that was not read. A file refused
// for its size stays refused until it changes; any other failure is noted,
// so that Run tries again soon.
func (s *Store) unreadProblem(b *scanBuild, path string, err error) *ConfigError {
	if isSizeError(err) {
		return &ConfigError{Source: Source{File: path}, Msg: err.Error() + "; not read (keeping its objects)"}
	}
	b.notes.failed = true
	return &ConfigError{Source: Source{File: path}, Msg: fmt.Sprintf("cannot read file: %v", err)}
}

// retained returns definitions, holding the served version, for the keys
// path defined at the previous scan and does not define in current.
func (s *Store) retained(path string, current []Definition) []Definition {
	have := map[Key]bool{}
	for _, d := range current {
		have[d.Key] = true
	}
	var out []Definition
	for _, k := range s.fileKeys[path] {
		if o := s.lastGood[k]; o != nil && !have[k] && o.Source.File == path {
			out = append(out, Definition{Key: k, Source: o.Source, Object: o})
		}
	}
	return out
}

// retainedFromUnreadableDirs keeps, by file path, the objects of files that
// were under a subdirectory which can no longer be listed.
func (s *Store) retainedFromUnreadableDirs(scan scanResult) map[string][]Definition {
	out := map[string][]Definition{}
	for path := range s.fileKeys {
		for _, dir := range scan.unreadable {
			if under(path, dir) {
				out[path] = s.retained(path, nil)
			}
		}
	}
	return out
}

// sortProblems orders problems by file, then document, keeping the order of
// the problems of one document.
func sortProblems(problems []*ConfigError) {
	slices.SortStableFunc(problems, func(a, b *ConfigError) int { return compareSources(a.Source, b.Source) })
}

// sortDefinitions orders definitions by file path, then document. They
// usually come already in order.
func sortDefinitions(defs []Definition) {
	byPath := func(a, b Definition) int { return compareSources(a.Source, b.Source) }
	if !slices.IsSortedFunc(defs, byPath) {
		slices.SortStableFunc(defs, byPath)
	}
}

func compareSources(a, b Source) int {
	if c := strings.Compare(a.File, b.File); c != 0 {
		return c
	}
	return cmp.Compare(a.Doc, b.Doc)
}

// objectsOf lists the objects of m, in no particular order (NewConfig sorts).
func objectsOf(m map[Key]*Object) []*Object {
	out := make([]*Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}
