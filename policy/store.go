package policy

import (
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Store serves the Istio configuration kept in a directory tree. Each Load
// rescans the tree and keeps, for every object, the last version that was
// valid:
//   - an object whose new version is invalid keeps its last valid version;
//   - a removed file (or document) removes its objects;
//   - a file with one bad document still yields its good ones;
//   - a file that cannot be read, is larger than Limits.MaxFileBytes, or
//     holds a document that cannot even be identified (YAML syntax error, no
//     name, larger than Limits.MaxDocumentBytes), keeps the objects it had;
//   - a file that had objects and is now empty (nothing but blanks and
//     comments) keeps them for EmptyFileGrace after the first scan that
//     found it empty, as an editor may truncate a file before writing it;
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
	limits      Limits
	rescanEvery time.Duration
	debounce    time.Duration
	emptyGrace  time.Duration
	readDir     func(string) ([]fs.DirEntry, error) // os.ReadDir; tests make it fail
	now         func() time.Time
	reload      chan struct{} // Reload's requests to Run, at most one pending

	mu       sync.Mutex
	config   *Config
	problems []*ConfigError
	lastGood map[Key]*Object        // version served for each key
	fileKeys map[string][]Key       // keys each file defined at the last scan
	cache    map[string]*cachedFile // decode results by file path
	emptied  map[string]time.Time   // emptied files still serving their objects, since when
	dirs     []string               // directories to watch: found by the last scan that could list the root
	// defs are the definitions of the last scan that could list the root,
	// in path order, and defProblems the problems found reading them.
	defs        []Definition
	defProblems []*ConfigError
}

// EmptyFileGrace is how long a file that had objects and is found empty
// keeps serving them: editors that truncate a file and then write it have
// finished by then.
const EmptyFileGrace = 2 * time.Second

// NewStore returns a Store for dir that reads files within limits (zero
// fields mean the defaults). Nothing is read until Load or Run.
func NewStore(dir string, logger *slog.Logger, limits Limits) *Store {
	if logger == nil {
		logger = slog.Default()
	}
	return &Store{
		dir:         dir,
		logger:      logger,
		limits:      limits.withDefaults(),
		rescanEvery: 30 * time.Second,
		debounce:    50 * time.Millisecond,
		emptyGrace:  EmptyFileGrace,
		readDir:     os.ReadDir,
		now:         time.Now,
		reload:      make(chan struct{}, 1),
		config:      NewConfig(nil),
		lastGood:    map[Key]*Object{},
		fileKeys:    map[string][]Key{},
		cache:       map[string]*cachedFile{},
		emptied:     map[string]time.Time{},
	}
}

// Load rescans the directory and returns the current Config (last valid
// version of every object) and the current problems.
func (s *Store) Load() (*Config, []*ConfigError) {
	rep := s.rescan(false)
	return rep.config, rep.problems
}

// Reload asks Run to read every file again now, trusting no stamp, and to
// log the outcome; it returns at once. Requests made while one is pending
// are merged; one made before Run starts is served when it does.
func (s *Store) Reload() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

// Definitions returns the definitions found by the last scan that could
// list the directory, in path order (what Accept needs to merge the files
// with other sources), and the problems found reading them. The slices must
// not be modified.
func (s *Store) Definitions() ([]Definition, []*ConfigError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defs, s.defProblems
}

// scanReport is the outcome of one rescan.
type scanReport struct {
	config    *Config
	problems  []*ConfigError
	changed   bool      // config or problems differ from the previous scan's
	failed    bool      // a directory or file could not be read: worth retrying soon
	recheckAt time.Time // when the grace of an emptied file ends; zero if none
}

// rescan loads the directory and reports whether the Config or the problem
// list changed since the previous scan. Unless reread is set, only files
// whose stamp changed are read again. The Config is rebuilt only when some
// object version changed. When the directory cannot be listed, the Config
// and the directories to watch stay as they were.
func (s *Store) rescan(reread bool) scanReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	opts := scanOptions{start: s.now(), reread: reread}
	rep := scanReport{config: s.config}
	scan, err := scanDir(s.dir, s.readDir)
	if err != nil {
		rep.problems = []*ConfigError{{Source: Source{File: s.dir}, Msg: err.Error() + " (serving the last loaded configuration)"}}
		rep.failed = true
	} else {
		served, problems, notes := s.build(scan, opts)
		rep.problems, rep.failed, rep.recheckAt = problems, notes.failed, notes.recheckAt
		if !s.config.holdsExactly(served) {
			rep.config = NewConfig(objectsOf(served))
		}
		s.dirs = watchList(s.dirs, scan)
	}
	rep.changed = rep.config != s.config || !sameProblems(s.problems, rep.problems)
	s.logNew(rep.problems)
	s.config, s.problems = rep.config, rep.problems
	return rep
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
