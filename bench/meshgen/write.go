package meshgen

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// SpecFile is where Write records the Spec, relative to the mesh directory.
const SpecFile = ".meshgen" // JSON; no .json suffix, so kubectl apply -R skips it

// PeerAuthenticationFile is where a mesh-wide PeerAuthentication goes,
// relative to the mesh directory.
const PeerAuthenticationFile = "istio-system/peer-authentication.yaml"

// File is one generated file, its path relative to the mesh directory.
type File struct {
	Path string
	Data []byte
}

// Files renders the whole mesh: the files of every service in index order,
// then each namespace's Sidecar.
func (s Spec) Files() ([]File, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("mesh spec: %w", err)
	}
	files := make([]File, 0, s.Services+s.Namespaces)
	for i := 0; i < s.Services; i++ {
		svc := s.Service(i)
		files = append(files, File{Path: svc.File(), Data: svc.YAML()})
	}
	if s.Sidecars {
		for j := 0; j < s.Namespaces; j++ {
			ns := NamespaceName(j)
			files = append(files, File{Path: path.Join(ns, "sidecar.yaml"), Data: SidecarYAML(ns)})
		}
	}
	return files, nil
}

// Write generates the mesh into dir, creating it if needed, and records the
// spec in SpecFile.
func Write(dir string, s Spec) error {
	files, err := s.Files()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := WriteFile(dir, f); err != nil {
			return err
		}
	}
	spec, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode mesh spec: %w", err)
	}
	return WriteFile(dir, File{Path: SpecFile, Data: append(spec, '\n')})
}

// WriteFile writes one file under dir atomically: readers that watch the
// directory see either the old or the new content, never a partial file.
func WriteFile(dir string, f File) error {
	target := filepath.Join(dir, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(f.Data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return nil
}

// RemoveFile deletes one generated file under dir.
func RemoveFile(dir, rel string) error {
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}

// ReadSpec reads the Spec Write recorded in dir.
func ReadSpec(dir string) (Spec, error) {
	data, err := os.ReadFile(filepath.Join(dir, SpecFile))
	if err != nil {
		return Spec{}, fmt.Errorf("read mesh spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return Spec{}, fmt.Errorf("read mesh spec %s: %w", SpecFile, err)
	}
	return s, s.Validate()
}
