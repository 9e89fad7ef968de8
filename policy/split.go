package policy

import (
	"bytes"
)

// splitDocuments cuts a YAML stream at "---" separator lines (a separator may
// carry a trailing comment). Documents are numbered as YAML numbers them:
// text before the first separator counts only when it is not blank, and every
// later separator starts a new document, even an empty one. The documents
// are slices of data, not copies.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	start, pos := 0, 0 // the current document begins at start; the next line at pos
	first := true
	for pos < len(data) {
		end := len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		if isSeparator(data[pos:end]) {
			if cur := data[start:pos:pos]; !first || !isBlank(cur) {
				docs = append(docs, cur)
			}
			first, start = false, end
		}
		pos = end
	}
	if cur := data[start:]; !first || !isBlank(cur) {
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
