package main

import (
	"fmt"
	"os"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// workDir is the temporary directory of a run: the generated mesh, the
// isthmus binary and the control plane's logs. It is removed at the end
// unless a step failed (keep), so the logs stay for reading.
type workDir struct {
	dir  string
	keep bool
	bin  string // the isthmus binary, once built
}

func newWorkDir() (*workDir, error) {
	dir, err := os.MkdirTemp("", "isthmus-benchall-")
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	return &workDir{dir: dir}, nil
}

// isthmus builds ./cmd/isthmus of this tree into the work directory, once.
func (w *workDir) isthmus() (string, error) {
	if w.bin != "" {
		return w.bin, nil
	}
	bin, err := localmesh.BuildIsthmus(w.dir)
	if err != nil {
		return "", err
	}
	w.bin = bin
	return bin, nil
}

// close removes the directory unless it is kept, and says where kept logs
// are.
func (w *workDir) close() string {
	if w.keep {
		return fmt.Sprintf("work directory kept for its logs: %s", w.dir)
	}
	_ = os.RemoveAll(w.dir)
	return ""
}
