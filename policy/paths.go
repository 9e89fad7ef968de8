package policy

import (
	"fmt"
	"os"
	"time"
)

// LoadPaths reads the given files and directory trees once, with the rules
// of a Store that has never loaded before: every valid object is kept,
// every problem reported (decoding, validation, duplicate keys, references).
// Files named directly are read whatever their extension; directories are
// scanned for *.yaml and *.yml files as a Store scans them. The default
// Limits apply.
func LoadPaths(paths []string) (*Config, []*ConfigError) {
	return LoadPathsWith(paths, Limits{})
}

// LoadPathsWith is LoadPaths with the given size limits (zero fields mean
// the defaults), as a Store made with them applies.
func LoadPathsWith(paths []string, limits Limits) (*Config, []*ConfigError) {
	var scan scanResult
	var problems []*ConfigError
	for _, p := range paths {
		info, err := os.Stat(p)
		switch {
		case err != nil:
			problems = append(problems, &ConfigError{Source: Source{File: p}, Msg: fmt.Sprintf("cannot read: %v", err)})
		case info.IsDir():
			dirScan, err := scanDir(p, os.ReadDir)
			if err != nil {
				problems = append(problems, &ConfigError{Source: Source{File: p}, Msg: err.Error()})
			}
			scan.files = append(scan.files, dirScan.files...)
			scan.unreadable = append(scan.unreadable, dirScan.unreadable...)
		default:
			scan.files = append(scan.files, foundFile{path: p, stamp: stampOf(p, info)})
		}
	}
	served, buildProblems, _ := NewStore("", nil, limits).build(scan, scanOptions{start: time.Now()})
	return NewConfig(objectsOf(served)), append(problems, buildProblems...)
}
