package policy

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Store serves the Istio configuration kept in a directory tree. Each Load
// rescans the tree and keeps, for every object, the last version that was
// valid:
//   - an object whose new version is invalid keeps its last valid version;
//   - a removed file (or document) removes its objects;
//   - a file with one bad document still yields its good ones;
//   - a file that cannot be read, or holds a document that cannot even be
//     identified (YAML syntax error, no name), keeps the objects it had;
//   - a key defined twice: the first definition in path order wins, the
//     other is an error;
//   - a VirtualService naming a subset no DestinationRule defines is invalid;
//   - if the directory itself disappears or becomes unreadable, the last
//     Config is kept and the problem reported.
//
// A Store is safe for concurrent use.
type Store struct {
	dir         string
	logger      *slog.Logger
	rescanEvery time.Duration
	debounce    time.Duration

	mu       sync.Mutex
	config   *Config
	problems []*ConfigError
	lastGood map[Key]*Object        // version served for each key
	fileKeys map[string][]Key       // keys each file defined at the last scan
	cache    map[string]decodedFile // decode results by file path
	dirs     []string               // directories found by the last scan
}

// NewStore returns a Store for dir. Nothing is read until Load or Run.
func NewStore(dir string, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.Default()
	}
	return &Store{
		dir:         dir,
		logger:      logger,
		rescanEvery: 30 * time.Second,
		debounce:    50 * time.Millisecond,
		config:      NewConfig(nil),
		lastGood:    map[Key]*Object{},
		fileKeys:    map[string][]Key{},
		cache:       map[string]decodedFile{},
	}
}

// Load rescans the directory and returns the current Config (last valid
// version of every object) and the current problems.
func (s *Store) Load() (*Config, []*ConfigError) {
	cfg, problems, _ := s.rescan()
	return cfg, problems
}

// rescan loads the directory and reports whether the Config or the problem
// list changed since the previous scan.
func (s *Store) rescan() (*Config, []*ConfigError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	scan, err := scanDir(s.dir)
	var cfg *Config
	var problems []*ConfigError
	if err != nil {
		cfg = s.config
		problems = []*ConfigError{{Source: Source{File: s.dir}, Msg: err.Error() + " (serving the last loaded configuration)"}}
	} else {
		cfg, problems = s.build(scan)
	}
	s.dirs = scan.dirs
	sameConfig := sameObjects(s.config, cfg)
	if sameConfig {
		cfg = s.config // unchanged: callers can compare Config pointers
	}
	changed := !sameConfig || !sameProblems(s.problems, problems)
	s.logNew(problems)
	s.config, s.problems = cfg, problems
	return cfg, problems, changed
}

// logNew logs, at warn level, the problems that were not already reported by
// the previous scan.
func (s *Store) logNew(problems []*ConfigError) {
	old := map[string]bool{}
	for _, p := range s.problems {
		old[p.Error()] = true
	}
	for _, p := range problems {
		if old[p.Error()] {
			continue
		}
		s.logger.Warn("invalid Istio configuration",
			slog.String("file", p.Source.File), slog.Int("doc", p.Source.Doc),
			slog.String("object", objectName(p.Key)), slog.String("field", p.Field), slog.String("error", p.Msg))
	}
}

func objectName(k Key) string {
	if k.Kind == "" {
		return ""
	}
	return k.String()
}

// sameObjects reports whether two configs hold the same object versions.
// Unchanged files reuse their decoded objects, so pointers can be compared.
func sameObjects(a, b *Config) bool {
	if a.Len() != b.Len() {
		return false
	}
	for k, o := range a.objects {
		if b.objects[k] != o {
			return false
		}
	}
	return true
}

func sameProblems(a, b []*ConfigError) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Error() != b[i].Error() {
			return false
		}
	}
	return true
}

// decodedFile is the decoded and validated content of one file version.
type decodedFile struct {
	hash   [sha256.Size]byte
	defs   []definition
	errs   []*ConfigError
	broken bool // some document could not be identified
}

// definition is one object defined by a file: obj is nil when the version
// in the file is invalid.
type definition struct {
	key Key
	src Source
	obj *Object
}

// decodeFile decodes and validates data, reusing the previous result when
// the file did not change.
func (s *Store) decodeFile(path string, data []byte) decodedFile {
	hash := sha256.Sum256(data)
	if prev, ok := s.cache[path]; ok && prev.hash == hash {
		return prev
	}
	objs, errs := Decode(path, data)
	df := decodedFile{hash: hash, errs: errs}
	invalid := map[Key]bool{}
	for _, e := range errs {
		if e.Key.Kind == "" || e.Key.Name == "" {
			df.broken = true
		} else if _, known := kinds[e.Key.Kind]; known {
			invalid[e.Key] = true
			df.defs = append(df.defs, definition{key: e.Key, src: e.Source})
		}
	}
	for _, o := range objs {
		verrs := Validate(o)
		df.errs = append(df.errs, verrs...)
		if len(verrs) > 0 {
			df.defs = append(df.defs, definition{key: o.Key, src: o.Source})
		} else {
			df.defs = append(df.defs, definition{key: o.Key, src: o.Source, obj: o})
		}
	}
	sortDefinitions(df.defs)
	return df
}

// build computes the Config and problems for one successful scan, and
// remembers what it served.
func (s *Store) build(scan scanResult) (*Config, []*ConfigError) {
	var problems []*ConfigError
	var defs []definition
	cache := map[string]decodedFile{}
	fileKeys := map[string][]Key{}
	for _, f := range scan.files {
		fileDefs, fileProblems, df := s.fileDefinitions(f)
		if df != nil {
			cache[f.path] = *df
		}
		defs = append(defs, fileDefs...)
		problems = append(problems, fileProblems...)
		for _, d := range fileDefs {
			fileKeys[f.path] = append(fileKeys[f.path], d.key)
		}
	}
	for _, dir := range scan.unreadable {
		problems = append(problems, &ConfigError{Source: Source{File: dir}, Msg: "cannot read directory (keeping the objects of its files)"})
	}
	for path, kept := range s.retainedFromUnreadableDirs(scan) {
		defs = append(defs, kept...)
		for _, d := range kept {
			fileKeys[path] = append(fileKeys[path], d.key)
		}
	}
	sortDefinitions(defs)
	chosen, dupProblems := chooseDefinitions(defs)
	problems = append(problems, dupProblems...)
	served, refProblems := s.serve(chosen)
	problems = append(problems, refProblems...)
	sortProblems(problems)
	s.cache, s.fileKeys, s.lastGood = cache, fileKeys, served
	return NewConfig(sortedObjects(served)), problems
}

// fileDefinitions returns the definitions of one scanned file and its
// problems. A file that cannot be read or is broken also keeps the objects it
// defined before that it no longer defines.
func (s *Store) fileDefinitions(f scannedFile) ([]definition, []*ConfigError, *decodedFile) {
	if f.err != nil {
		problem := &ConfigError{Source: Source{File: f.path}, Msg: fmt.Sprintf("cannot read file: %v", f.err)}
		return s.retained(f.path, nil), []*ConfigError{problem}, nil
	}
	df := s.decodeFile(f.path, f.data)
	defs := df.defs
	if df.broken {
		defs = append(defs, s.retained(f.path, defs)...)
	}
	return defs, df.errs, &df
}

// retained returns definitions, holding the served version, for the keys
// path defined at the previous scan and does not define in current.
func (s *Store) retained(path string, current []definition) []definition {
	have := map[Key]bool{}
	for _, d := range current {
		have[d.key] = true
	}
	var out []definition
	for _, k := range s.fileKeys[path] {
		if o := s.lastGood[k]; o != nil && !have[k] && o.Source.File == path {
			out = append(out, definition{key: k, src: o.Source, obj: o})
		}
	}
	return out
}

// retainedFromUnreadableDirs keeps, by file path, the objects of files that
// were under a subdirectory which can no longer be listed.
func (s *Store) retainedFromUnreadableDirs(scan scanResult) map[string][]definition {
	out := map[string][]definition{}
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
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i].Source, problems[j].Source
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Doc < b.Doc
	})
}

// sortDefinitions orders definitions by file path, then document.
func sortDefinitions(defs []definition) {
	sort.SliceStable(defs, func(i, j int) bool {
		a, b := defs[i].src, defs[j].src
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Doc < b.Doc
	})
}

// chooseDefinitions keeps the first definition of each key, in path order,
// and reports the others.
func chooseDefinitions(defs []definition) (map[Key]definition, []*ConfigError) {
	chosen := map[Key]definition{}
	var problems []*ConfigError
	for _, d := range defs {
		if first, ok := chosen[d.key]; ok {
			problems = append(problems, &ConfigError{Source: d.src, Key: d.key,
				Msg: fmt.Sprintf("already defined at %s; this definition is ignored", first.src)})
			continue
		}
		chosen[d.key] = d
	}
	return chosen, problems
}

// serve picks the version to serve for every chosen key: the valid version
// in the files, else the last served one. VirtualServices that fail
// CheckReferences fall back to their last served version, or are left out.
func (s *Store) serve(chosen map[Key]definition) (map[Key]*Object, []*ConfigError) {
	versions := map[Key]*Object{}
	for k, d := range chosen {
		if d.obj != nil {
			versions[k] = d.obj
		} else if prev := s.lastGood[k]; prev != nil {
			versions[k] = prev
		}
	}
	problems := CheckReferences(sortedObjects(versions))
	for _, p := range problems {
		if prev := s.lastGood[p.Key]; prev != nil {
			versions[p.Key] = prev
		} else {
			delete(versions, p.Key)
		}
	}
	return versions, problems
}

func sortedObjects(m map[Key]*Object) []*Object {
	out := make([]*Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return lessKey(a, b)
	})
	return out
}
