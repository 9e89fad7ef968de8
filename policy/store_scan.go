package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// foundFile is one configuration file found under the store directory. It
// is not read by the walk: its stamp tells whether it changed.
type foundFile struct {
	path  string    // path as reached from the directory (used in messages)
	real  string    // path with links resolved, "" if it could not be resolved
	stamp fileStamp // identity, size and times of the file the path leads to
	err   error     // the entry exists but cannot be reached (dangling link)
}

// fileStamp identifies one version of a file without reading it: the file
// reached (resolved path, and device and inode where the platform has them),
// its size, its modification time and, where available, its change time. A
// ConfigMap update moves every link to a new file, so the stamp changes even
// when size and times do not.
type fileStamp struct {
	real  string
	size  int64
	mtime int64 // nanoseconds since the epoch
	sys   sysStamp
}

func stampOf(real string, info fs.FileInfo) fileStamp {
	return fileStamp{real: real, size: info.Size(), mtime: info.ModTime().UnixNano(), sys: sysStampOf(info)}
}

// scanResult is everything one directory walk found.
type scanResult struct {
	files      []foundFile
	dirs       []string // every directory walked, for watching
	unreadable []string // subdirectories that could not be listed
}

// scanDir lists every *.yaml and *.yml file under root, recursively,
// following symbolic links (so Kubernetes ConfigMap mounts, whose files are
// links into a hidden "..data" directory, work) and skipping hidden entries.
// A file reached twice through links is listed once, under its first path.
// Files are returned in path order. The error is set only when root itself
// cannot be listed. readDir lists one directory (os.ReadDir).
func scanDir(root string, readDir func(string) ([]fs.DirEntry, error)) (scanResult, error) {
	w := &walker{seenDirs: map[string]bool{}, readDir: readDir}
	if err := w.walk(root, "", true); err != nil {
		return scanResult{}, err
	}
	sort.Slice(w.found, func(i, j int) bool { return w.found[i].path < w.found[j].path })
	seen := map[string]bool{}
	for _, f := range w.found {
		if f.real != "" && seen[f.real] {
			continue
		}
		seen[f.real] = true
		w.res.files = append(w.res.files, f)
	}
	return w.res, nil
}

type walker struct {
	res      scanResult
	found    []foundFile
	seenDirs map[string]bool // real paths of directories walked
	readDir  func(string) ([]fs.DirEntry, error)
}

// walk lists dir; real is its resolved path when already known.
func (w *walker) walk(dir, real string, isRoot bool) error {
	if real == "" {
		real, _ = filepath.EvalSymlinks(dir) // "" if it cannot be resolved
	}
	if real != "" && w.seenDirs[real] {
		return nil
	}
	entries, err := w.readDir(dir)
	if err != nil {
		if isRoot {
			return fmt.Errorf("cannot read configuration directory: %w", err)
		}
		w.res.unreadable = append(w.res.unreadable, dir)
		return nil
	}
	w.seenDirs[real] = true
	w.res.dirs = append(w.res.dirs, dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		w.visit(filepath.Join(dir, e.Name()), realEntryPath(real, e))
	}
	return nil
}

// realEntryPath is the resolved path of an entry that is not a link, found
// without asking the file system again; "" when the entry must be resolved.
func realEntryPath(realDir string, e fs.DirEntry) string {
	if realDir == "" || e.Type()&fs.ModeSymlink != 0 {
		return ""
	}
	return filepath.Join(realDir, e.Name())
}

// visit handles one directory entry, following links. real is the entry's
// resolved path when already known.
func (w *walker) visit(path, real string) {
	info, err := os.Stat(path)
	if err != nil {
		if isConfigFile(path) {
			// A dangling link or a file that vanished: report it only if it
			// still shows up as an entry, as Kubernetes swaps links atomically.
			if _, lerr := os.Lstat(path); lerr == nil {
				w.found = append(w.found, foundFile{path: path, err: err})
			}
		}
		return
	}
	if info.IsDir() {
		_ = w.walk(path, real, false)
		return
	}
	if !info.Mode().IsRegular() || !isConfigFile(path) {
		return
	}
	if real == "" {
		if real, err = filepath.EvalSymlinks(path); err != nil {
			real = ""
		}
	}
	w.found = append(w.found, foundFile{path: path, real: real, stamp: stampOf(real, info)})
}

func isConfigFile(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".yaml" || ext == ".yml"
}

// under reports whether path lies inside dir.
func under(path, dir string) bool {
	return strings.HasPrefix(path, dir+string(filepath.Separator))
}

// watchList is what to watch after a scan that could list the root: the
// directories it walked, and those watched before (prev) that lie in a
// subdirectory it could not list, so that their changes are still seen.
func watchList(prev []string, scan scanResult) []string {
	dirs := slices.Clip(scan.dirs)
	for _, d := range prev {
		if slices.ContainsFunc(scan.unreadable, func(u string) bool { return d == u || under(d, u) }) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}
