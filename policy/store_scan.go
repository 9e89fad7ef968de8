package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// scannedFile is one configuration file found under the store directory.
type scannedFile struct {
	path string // path as reached from the directory (used in messages)
	data []byte
	err  error // the file exists but could not be read
}

// scanResult is everything one directory walk found.
type scanResult struct {
	files      []scannedFile
	dirs       []string // every directory walked, for watching
	unreadable []string // subdirectories that could not be listed
}

// scanDir lists every *.yaml and *.yml file under root, recursively,
// following symbolic links (so Kubernetes ConfigMap mounts, whose files are
// links into a hidden "..data" directory, work) and skipping hidden entries.
// A file reached twice through links is read once, under its first path.
// Files are returned in path order. The error is set only when root itself
// cannot be listed.
func scanDir(root string) (scanResult, error) {
	w := &walker{seenDirs: map[string]bool{}}
	if err := w.walk(root, true); err != nil {
		return scanResult{}, err
	}
	sort.Slice(w.found, func(i, j int) bool { return w.found[i].path < w.found[j].path })
	seen := map[string]bool{}
	for _, f := range w.found {
		if f.real != "" && seen[f.real] {
			continue
		}
		seen[f.real] = true
		w.res.files = append(w.res.files, readFound(f))
	}
	return w.res, nil
}

// foundFile is a configuration file seen during the walk, not yet read.
type foundFile struct {
	path string
	real string // path with links resolved, "" if it could not be resolved
	err  error  // stat error of a dangling entry
}

func readFound(f foundFile) scannedFile {
	if f.err != nil {
		return scannedFile{path: f.path, err: f.err}
	}
	data, err := os.ReadFile(f.path)
	return scannedFile{path: f.path, data: data, err: err}
}

type walker struct {
	res      scanResult
	found    []foundFile
	seenDirs map[string]bool // real paths of directories walked
}

func (w *walker) walk(dir string, isRoot bool) error {
	real, err := filepath.EvalSymlinks(dir)
	if err == nil && w.seenDirs[real] {
		return nil
	}
	entries, err := os.ReadDir(dir)
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
		w.visit(filepath.Join(dir, e.Name()))
	}
	return nil
}

// visit handles one directory entry, following links.
func (w *walker) visit(path string) {
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
		_ = w.walk(path, false)
		return
	}
	if !info.Mode().IsRegular() || !isConfigFile(path) {
		return
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = ""
	}
	w.found = append(w.found, foundFile{path: path, real: real})
}

func isConfigFile(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".yaml" || ext == ".yml"
}

// under reports whether path lies inside dir.
func under(path, dir string) bool {
	return strings.HasPrefix(path, dir+string(filepath.Separator))
}
