package policy

import (
	"crypto/sha256"
	"time"
)

// decodedFile is the decoded and validated content of one file version.
type decodedFile struct {
	hash   [sha256.Size]byte
	defs   []Definition
	keys   []Key // the keys of defs
	errs   []*ConfigError
	broken bool // some document could not be identified
	empty  bool // the file holds nothing but blanks and comments
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
// scan trusts no stamp. It is decoded again only if its content changed. A
// file over the size limit is refused before it is opened, by the size the
// scan found, or while it is read, if it grew since.
func (s *Store) decodedVersion(f foundFile, opts scanOptions) (*cachedFile, error) {
	prev := s.cache[f.path]
	if prev != nil && prev.settled && prev.stamp == f.stamp && !opts.reread {
		return prev, nil
	}
	if f.stamp.size > s.limits.MaxFileBytes {
		return nil, &sizeError{"file", f.stamp.size, s.limits.MaxFileBytes}
	}
	data, err := readCapped(f.path, s.limits.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	next := &cachedFile{stamp: f.stamp, settled: f.stamp.mtime < opts.start.Add(-settleTime).UnixNano()}
	if hash := sha256.Sum256(data); prev != nil && prev.hash == hash {
		next.decodedFile = prev.decodedFile
	} else {
		next.decodedFile = decodeFile(f.path, data, hash, s.limits.MaxDocumentBytes)
	}
	return next, nil
}

// decodeFile decodes and validates one file version.
func decodeFile(path string, data []byte, hash [sha256.Size]byte, maxDocument int64) decodedFile {
	objs, errs := decodeLimited(path, data, maxDocument)
	df := decodedFile{hash: hash, errs: errs}
	for _, e := range errs {
		if e.Key.Kind == "" || e.Key.Name == "" {
			df.broken = true
		} else if _, known := kinds[e.Key.Kind]; known {
			df.defs = append(df.defs, Definition{Key: e.Key, Source: e.Source})
		}
	}
	for _, o := range objs {
		verrs := Validate(o)
		df.errs = append(df.errs, verrs...)
		if len(verrs) > 0 {
			df.defs = append(df.defs, Definition{Key: o.Key, Source: o.Source})
		} else {
			df.defs = append(df.defs, Definition{Key: o.Key, Source: o.Source, Object: o})
		}
	}
	df.empty = len(objs) == 0 && len(errs) == 0 && isBlank(data)
	sortDefinitions(df.defs)
	df.keys = keysOf(df.defs)
	return df
}

// DecodeDefinitions decodes and validates the Istio YAML of one named blob
// (a file, a Consul key), as the file source does a file: a definition per
// object (without Object when invalid, or when a known kind failed to
// decode), in document order, and the problems found. complete is false
// when some document could not be identified, or data is over
// limits.MaxFileBytes: then the blob's previous definitions should be
// kept.
func DecodeDefinitions(name string, data []byte, limits Limits) (defs []Definition, problems []*ConfigError, complete bool) {
	limits = limits.withDefaults()
	if int64(len(data)) > limits.MaxFileBytes {
		err := &ConfigError{Source: Source{File: name}, Msg: (&sizeError{"value", int64(len(data)), limits.MaxFileBytes}).Error()}
		return nil, []*ConfigError{err}, false
	}
	df := decodeFile(name, data, sha256.Sum256(data), limits.MaxDocumentBytes)
	return df.defs, df.errs, !df.broken
}
