package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Default size caps. Decoding a YAML mapping takes twenty to thirty-five
// times its size in memory, so the caps bound what one file can cost (a
// 16 MiB file of four 4 MiB documents: about 250 MB at peak); Istio objects
// are a few kilobytes.
const (
	DefaultMaxFileBytes     = 16 << 20 // 16 MiB per file
	DefaultMaxDocumentBytes = 4 << 20  // 4 MiB per YAML document
)

// Limits caps the size of what the Store and LoadPaths read. A zero field
// means its default.
type Limits struct {
	MaxFileBytes     int64 // a larger file is not read: it keeps the objects it had
	MaxDocumentBytes int64 // a larger document is not decoded: its file keeps the objects it had
}

// withDefaults fills in the zero fields.
func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxDocumentBytes <= 0 {
		l.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	return l
}

// sizeError refuses a file or document for its size: a fact about the
// file, not an I/O failure worth retrying.
type sizeError struct {
	what        string // "file" or "document"
	size, limit int64
}

func (e *sizeError) Error() string {
	return fmt.Sprintf("the %s is %d bytes (%s), more than the limit of %s per %s",
		e.what, e.size, formatBytes(e.size), formatBytes(e.limit), e.what)
}

// isSizeError reports whether err refuses a file for its size.
func isSizeError(err error) bool {
	var se *sizeError
	return errors.As(err, &se)
}

// formatBytes prints n in the largest binary unit that divides it into at
// least 1: "512 bytes", "4 MiB", "49.5 MiB".
func formatBytes(n int64) string {
	units := []string{"KiB", "MiB", "GiB"}
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, unit := float64(n)/1024, units[0]
	for _, u := range units[1:] {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), unit)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// readCapped reads the file at path unless it holds more than limit bytes.
// The size is checked before reading, and the read stops one byte past the
// limit, so a file that grows meanwhile costs no more.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() > limit {
		return nil, &sizeError{"file", info.Size(), limit}
	}
	buf := bytes.NewBuffer(make([]byte, 0, info.Size()+1))
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, &sizeError{"file", int64(buf.Len()), limit}
	}
	return buf.Bytes(), nil
}

// documentTooLarge returns the problem of a document over the limit, or nil.
func documentTooLarge(src Source, doc []byte, limit int64) *ConfigError {
	if int64(len(doc)) <= limit {
		return nil
	}
	err := &sizeError{"document", int64(len(doc)), limit}
	return &ConfigError{Source: src, Msg: err.Error() + "; not decoded"}
}
