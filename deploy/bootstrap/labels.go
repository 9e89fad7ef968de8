package bootstrap

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ReadLabelsFile reads pod labels as the Kubernetes downward API writes
// them into a volume (fieldPath metadata.labels): one key="value" per
// line, the value quoted as a Go string. An error names the file and line.
func ReadLabelsFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("labels file: %w", err)
	}
	labels := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, quoted, ok := strings.Cut(line, "=")
		value, err := strconv.Unquote(quoted)
		if !ok || key == "" || err != nil {
			return nil, fmt.Errorf("labels file %s:%d: want key=\"value\", got %q", path, n, line)
		}
		labels[key] = value
	}
	return labels, sc.Err()
}
