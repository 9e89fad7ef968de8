package nodeimages

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec describes a one-layer image on an empty base.
type Spec struct {
	// Ref tags the image (e.g. isthmus.local/demoapp:dev).
	Ref        string
	Entrypoint []string
	Cmd        []string
	Env        []string
	// User is "UID:GID" (default root).
	User  string
	Files []File
}

// File is one entry of the layer: a copy of a host file (Source), a
// symbolic link (Link), or a directory (neither). Parent directories are
// added as root-owned 0755 directories.
type File struct {
	// Path is the absolute path in the image.
	Path string
	// Source is the host file copied (symbolic links followed).
	Source string
	// Link is the target of a symbolic link at Path.
	Link string
	// Mode is the permission bits (default 0755 for directories and
	// copies of executables, else the source's).
	Mode int64
}

// epoch is every file's and the image's time, so builds are reproducible.
var epoch = time.Unix(0, 0).UTC()

// Write builds the image and writes it as a docker-archive tarball at
// path (replaced atomically).
func (s Spec) Write(path string) error {
	img, err := s.Image()
	if err != nil {
		return err
	}
	tag, err := name.NewTag(s.Ref)
	if err != nil {
		return fmt.Errorf("image %s: reference: %w", s.Ref, err)
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image %s: write %s: %w", s.Ref, path, err)
	}
	return os.Rename(tmp, path)
}

// Image builds the image in memory.
func (s Spec) Image() (v1.Image, error) {
	data, err := layerTar(s.Files)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Ref, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, fmt.Errorf("image %s: layer: %w", s.Ref, err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "isthmus deploy/nodeimages"}})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", s.Ref, err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = "linux", runtime.GOARCH, v1.Time{Time: epoch}
	cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.User = s.Entrypoint, s.Cmd, s.User
	cfg.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, s.Env...)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", s.Ref, err)
	}
	return img, nil
}

// layerTar is the gzipped tar of files and their parent directories.
func layerTar(files []File) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	written := map[string]bool{}
	for _, f := range sortedFiles(files) {
		if err := writeParents(tw, f.Path, written); err != nil {
			return nil, err
		}
		if written[f.Path] {
			continue
		}
		written[f.Path] = true
		if err := writeEntry(tw, f); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sortedFiles(files []File) []File {
	out := slices.Clone(files)
	slices.SortStableFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// writeParents adds the directories above p not written yet.
func writeParents(tw *tar.Writer, p string, written map[string]bool) error {
	var parents []string
	for dir := path.Dir(p); dir != "/" && !written[dir]; dir = path.Dir(dir) {
		parents = append(parents, dir)
	}
	for _, dir := range slices.Backward(parents) {
		written[dir] = true
		if err := tw.WriteHeader(dirHeader(dir, 0o755)); err != nil {
			return err
		}
	}
	return nil
}

func dirHeader(dir string, mode int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX}
}

// writeEntry writes one file, link or directory.
func writeEntry(tw *tar.Writer, f File) error {
	name := strings.TrimPrefix(f.Path, "/")
	switch {
	case f.Link != "":
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: f.Link, Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX})
	case f.Source == "":
		return tw.WriteHeader(dirHeader(f.Path, cmpMode(f.Mode, 0o755)))
	}
	data, err := os.ReadFile(f.Source)
	if err != nil {
		return err
	}
	info, err := os.Stat(f.Source)
	if err != nil {
		return err
	}
	mode := cmpMode(f.Mode, int64(info.Mode().Perm()))
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = tw.Write(data)
	return err
}

func cmpMode(mode, fallback int64) int64 {
	if mode != 0 {
		return mode
	}
	return fallback
}
