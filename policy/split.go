package policy

import (
	"bytes"
)

// splitDocuments cuts a YAML stream at "---" separator lines (a separator may
// carry a trailing comment). Documents are numbered as YAML numbers them:
// text before the first separator counts only when it is not blank, and every
// later separator starts a new document, even an empty one.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	first := true
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		if !isSeparator(line) {
			cur = append(cur, line...)
			continue
		}
		if !first || !isBlank(cur) {
			docs = append(docs, cur)
		}
		first = false
		cur = nil
	}
	if !first || !isBlank(cur) {
		docs = append(docs, cur)
	}
	return docs
}

// isSeparator reports whether line is a YAML document separator.
func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := bytes.TrimSpace(line[3:])
	if len(rest) == 0 {
		return true
	}
	// "--- # comment" separates; "---x" or "--- value" does not.
	return rest[0] == '#' && (line[3] == ' ' || line[3] == '\t')
}
