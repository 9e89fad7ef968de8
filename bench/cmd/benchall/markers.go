package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The markers around the section `make bench` owns in the results file.
const (
	beginMarker   = "<!-- make bench: begin -->"
	endMarker     = "<!-- make bench: end -->"
	sectionHeader = "## Latest `make bench`"
	defaultTitle  = "# Isthmus benchmark results"
)

// replaceSection returns doc with what lies between the markers replaced
// by section; everything outside the markers is kept byte for byte. When
// doc has no markers, they are inserted with section under a "Latest
// `make bench`" heading before the first second-level heading (at the end
// when there is none; after a title when doc is empty). A doc with one
// marker only, or the end before the begin, is an error: replacing would
// lose text.
func replaceSection(doc, section string) (string, error) {
	body := "\n" + strings.TrimRight(section, "\n") + "\n"
	begin, end := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	switch {
	case begin >= 0 && end > begin:
		return doc[:begin+len(beginMarker)] + body + doc[end:], nil
	case begin < 0 && end < 0:
		return insertSection(doc, body), nil
	case begin >= 0 && end >= 0:
		return "", errors.New("results file: the end marker comes before the begin marker")
	}
	return "", fmt.Errorf("results file: %q and %q must both be present, or neither", beginMarker, endMarker)
}

// insertSection adds the heading, the markers and body to a doc without
// markers.
func insertSection(doc, body string) string {
	block := sectionHeader + "\n\n" + beginMarker + body + endMarker + "\n"
	if strings.TrimSpace(doc) == "" {
		return defaultTitle + "\n\n" + block
	}
	if at := firstSecondLevelHeading(doc); at >= 0 {
		return doc[:at] + block + "\n" + doc[at:]
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + block
}

// firstSecondLevelHeading is the offset of the first line starting with
// "## ", or -1.
func firstSecondLevelHeading(doc string) int {
	offset := 0
	for line := range strings.SplitAfterSeq(doc, "\n") {
		if strings.HasPrefix(line, "## ") {
			return offset
		}
		offset += len(line)
	}
	return -1
}

// writeSection replaces the marked section of the file at path (created
// when absent) and writes it atomically.
func writeSection(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	doc, err := replaceSection(string(old), section)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomic(path, []byte(doc))
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".benchall-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
