package policy

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
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
// A rescan stats every file but reads only those whose stamp (resolved
// path, device and inode, size, modification and change times) differs from
// the last scan, or that changed less than settleTime before it; it decodes
// and validates only files whose content hash changed. The periodic rescan
// of Run reads every file again, as a safety net for a change that kept the
// stamp (clocks out of step on a network file system). Duplicate keys and
// CheckReferences are always evaluated over the whole set, and a new Config
// is built only when some served object version changed: otherwise the
// previous *Config is returned.
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
	cache    map[string]*cachedFile // decode results by file path
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
		cache:       map[string]*cachedFile{},
	}
}

// Load rescans the directory and returns the current Config (last valid
// version of every object) and the current problems.
func (s *Store) Load() (*Config, []*ConfigError) {
	cfg, problems, _ := s.rescan(false)
	return cfg, problems
}

// rescan loads the directory and reports whether the Config or the problem
// list changed since the previous scan. Unless reread is set, only files
// whose stamp changed are read again. The Config is rebuilt only when some
// object version changed.
func (s *Store) rescan(reread bool) (*Config, []*ConfigError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	opts := scanOptions{start: time.Now(), reread: reread}
	scan, err := scanDir(s.dir)
	cfg, problems := s.config, []*ConfigError(nil)
	if err != nil {
		problems = []*ConfigError{{Source: Source{File: s.dir}, Msg: err.Error() + " (serving the last loaded configuration)"}}
	} else {
		var served map[Key]*Object
		served, problems = s.build(scan, opts)
		if !s.config.holdsExactly(served) {
			cfg = NewConfig(objectsOf(served))
		}
	}
	s.dirs = scan.dirs
	changed := cfg != s.config || !sameProblems(s.problems, problems)
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

// holdsExactly reports whether c serves exactly the object versions in
// objs. Unchanged files reuse their decoded objects, so pointers can be
// compared.
func (c *Config) holdsExactly(objs map[Key]*Object) bool {
	if c.Len() != len(objs) {
		return false
	}
	for k, o := range objs {
		if c.objects[k] != o {
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
	keys   []Key // the keys of defs
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

// settleTime is how old a file's modification time must be, when the scan
// starts, for its stamp to be trusted: a later write then gets a later time,
// even on file systems with coarse timestamps. A file changed more recently
// is read again at every scan (and decoded again only if its content
// changed) until it is that old.
const settleTime = 2 * time.Second

// scanOptions says how one rescan treats the files it finds.
type scanOptions struct {
	start  time.Time // when the scan began, before any file was looked at
	reread bool      // read every file, trusting no stamp
}

// cachedFile is the decoded content of one file and the stamp it had. It
// is not modified once made.
type cachedFile struct {
	stamp   fileStamp
	settled bool // the stamp changes with any later write to the file
	decodedFile
}

// decodedVersion returns the decoded content of a found file, reading it only
// if its stamp changed or was not yet settled at the previous scan, or if the
// scan trusts no stamp. It is decoded again only if its content changed.
func (s *Store) decodedVersion(f foundFile, opts scanOptions) (*cachedFile, error) {
	prev := s.cache[f.path]
	if prev != nil && prev.settled && prev.stamp == f.stamp && !opts.reread {
		return prev, nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	next := &cachedFile{stamp: f.stamp, settled: f.stamp.mtime < opts.start.Add(-settleTime).UnixNano()}
	if hash := sha256.Sum256(data); prev != nil && prev.hash == hash {
		next.decodedFile = prev.decodedFile
	} else {
		next.decodedFile = decodeFile(f.path, data, hash)
	}
	return next, nil
}

// decodeFile decodes and validates one file version.
func decodeFile(path string, data []byte, hash [sha256.Size]byte) decodedFile {
	objs, errs := Decode(path, data)
	df := decodedFile{hash: hash, errs: errs}
	for _, e := range errs {
		if e.Key.Kind == "" || e.Key.Name == "" {
			df.broken = true
		} else if _, known := kinds[e.Key.Kind]; known {
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
	df.keys = keysOf(df.defs)
	return df
}

// build computes the object versions to serve and the problems for one
// successful scan, and remembers what it served.
func (s *Store) build(scan scanResult, opts scanOptions) (map[Key]*Object, []*ConfigError) {
	var problems []*ConfigError
	defs := make([]definition, 0, len(s.lastGood)+len(scan.files))
	cache := make(map[string]*cachedFile, len(scan.files))
	fileKeys := make(map[string][]Key, len(scan.files))
	for _, f := range scan.files {
		fileDefs, fileKeysNow, fileProblems, cf := s.fileDefinitions(f, opts)
		if cf != nil {
			cache[f.path] = cf
		}
		defs = append(defs, fileDefs...)
		problems = append(problems, fileProblems...)
		if len(fileKeysNow) > 0 {
			fileKeys[f.path] = fileKeysNow
		}
	}
	for _, dir := range scan.unreadable {
		problems = append(problems, &ConfigError{Source: Source{File: dir}, Msg: "cannot read directory (keeping the objects of its files)"})
	}
	for path, kept := range s.retainedFromUnreadableDirs(scan) {
		defs = append(defs, kept...)
		fileKeys[path] = append(fileKeys[path], keysOf(kept)...)
	}
	sortDefinitions(defs)
	chosen, dupProblems := chooseDefinitions(defs)
	problems = append(problems, dupProblems...)
	served, refProblems := s.serve(chosen)
	problems = append(problems, refProblems...)
	sortProblems(problems)
	s.cache, s.fileKeys, s.lastGood = cache, fileKeys, served
	return served, problems
}

func keysOf(defs []definition) []Key {
	if len(defs) == 0 {
		return nil
	}
	keys := make([]Key, len(defs))
	for i, d := range defs {
		keys[i] = d.key
	}
	return keys
}

// fileDefinitions returns the definitions of one found file, their keys and
// the file's problems. A file that cannot be read or is broken also keeps the
// objects it defined before that it no longer defines.
func (s *Store) fileDefinitions(f foundFile, opts scanOptions) ([]definition, []Key, []*ConfigError, *cachedFile) {
	err := f.err
	var cf *cachedFile
	if err == nil {
		cf, err = s.decodedVersion(f, opts)
	}
	if err != nil {
		problem := &ConfigError{Source: Source{File: f.path}, Msg: fmt.Sprintf("cannot read file: %v", err)}
		kept := s.retained(f.path, nil)
		return kept, keysOf(kept), []*ConfigError{problem}, nil
	}
	if !cf.broken {
		return cf.defs, cf.keys, cf.errs, cf
	}
	defs := append(slices.Clip(cf.defs), s.retained(f.path, cf.defs)...)
	return defs, keysOf(defs), cf.errs, cf
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
	slices.SortStableFunc(problems, func(a, b *ConfigError) int { return compareSources(a.Source, b.Source) })
}

// sortDefinitions orders definitions by file path, then document. They
// usually come already in order.
func sortDefinitions(defs []definition) {
	byPath := func(a, b definition) int { return compareSources(a.src, b.src) }
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

// chooseDefinitions keeps the first definition of each key, in path order,
// and reports the others. It filters defs in place: the chosen definitions
// keep their order.
func chooseDefinitions(defs []definition) ([]definition, []*ConfigError) {
	first := make(map[Key]int, len(defs)) // index in chosen
	chosen := defs[:0]
	var problems []*ConfigError
	for _, d := range defs {
		if i, ok := first[d.key]; ok {
			problems = append(problems, &ConfigError{Source: d.src, Key: d.key,
				Msg: fmt.Sprintf("already defined at %s; this definition is ignored", chosen[i].src)})
			continue
		}
		first[d.key] = len(chosen)
		chosen = append(chosen, d)
	}
	return chosen, problems
}

// serve picks the version to serve for every chosen key: the valid version
// in the files, else the last served one. VirtualServices that fail
// CheckReferences fall back to their last served version, or are left out.
func (s *Store) serve(chosen []definition) (map[Key]*Object, []*ConfigError) {
	versions := make(map[Key]*Object, len(chosen))
	ordered := make([]*Object, 0, len(chosen)) // in path order, for stable problems
	for _, d := range chosen {
		o := d.obj
		if o == nil {
			o = s.lastGood[d.key]
		}
		if o != nil {
			versions[d.key] = o
			ordered = append(ordered, o)
		}
	}
	problems := CheckReferences(ordered)
	for _, p := range problems {
		if prev := s.lastGood[p.Key]; prev != nil {
			versions[p.Key] = prev
		} else {
			delete(versions, p.Key)
		}
	}
	return versions, problems
}

// objectsOf lists the objects of m, in no particular order (NewConfig sorts).
func objectsOf(m map[Key]*Object) []*Object {
	out := make([]*Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}
