package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestBuildWrite(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "isthmus")
	content := []byte("\x7fELF not really a binary, but the image does not run it\n")
	if err := os.WriteFile(binary, content, 0o600); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	img, err := Build(Options{
		Binary: binary, OS: "linux", Architecture: "arm64", Created: created,
		Labels: map[string]string{"org.opencontainers.image.version": "v1.2.3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	const ref = "isthmus.local/isthmus:v1.2.3"
	if err := Write(out, ref, img); err != nil {
		t.Fatal(err)
	}

	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	read, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("reading back %s: %v", out, err)
	}
	cfg, err := read.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "arm64" {
		t.Errorf("platform %s/%s, want linux/arm64", cfg.OS, cfg.Architecture)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/isthmus"}) {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"serve"}) {
		t.Errorf("cmd %q", cfg.Config.Cmd)
	}
	if cfg.Config.User != "1337:1337" {
		t.Errorf("user %q, want 1337:1337", cfg.Config.User)
	}
	if !slices.Contains(cfg.Config.Env, "XDG_STATE_HOME=/var/lib/isthmus") {
		t.Errorf("env %q lacks XDG_STATE_HOME=/var/lib/isthmus", cfg.Config.Env)
	}
	if got := cfg.Config.Labels["org.opencontainers.image.version"]; got != "v1.2.3" {
		t.Errorf("version label %q", got)
	}
	if !cfg.Created.Time.Equal(created) {
		t.Errorf("created %v, want %v", cfg.Created.Time, created)
	}
	if _, ok := cfg.Config.ExposedPorts["15012/tcp"]; !ok {
		t.Errorf("exposed ports %v lack 15012/tcp", cfg.Config.ExposedPorts)
	}

	layers, err := read.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "usr/local/bin/isthmus" {
			got, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Errorf("usr/local/bin/isthmus holds %q, want the binary", got)
			}
		}
		headers[h.Name] = h
	}
	for _, want := range []struct {
		name     string
		typ      byte
		mode     int64
		uid, gid int
	}{
		{"usr/local/bin/isthmus", tar.TypeReg, 0o755, 0, 0},
		{"usr/local/bin/", tar.TypeDir, 0o755, 0, 0},
		{"var/lib/isthmus/", tar.TypeDir, 0o755, 1337, 1337},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0},
	} {
		h, ok := headers[want.name]
		if !ok {
			t.Errorf("layer lacks %s; has %v", want.name, keys(headers))
			continue
		}
		if h.Typeflag != want.typ || h.Mode != want.mode || h.Uid != want.uid || h.Gid != want.gid {
			t.Errorf("%s: type %c mode %o owner %d:%d, want type %c mode %o owner %d:%d",
				want.name, h.Typeflag, h.Mode, h.Uid, h.Gid, want.typ, want.mode, want.uid, want.gid)
		}
		if !h.ModTime.Equal(created) {
			t.Errorf("%s: mtime %v, want %v", want.name, h.ModTime, created)
		}
	}

	// The same binary and options give the same image.
	again, err := Build(Options{
		Binary: binary, OS: "linux", Architecture: "arm64", Created: created,
		Labels: map[string]string{"org.opencontainers.image.version": "v1.2.3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d1, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := again.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("two builds of the same binary: digests %s and %s", d1, d2)
	}
}

func TestBuildRefusesMissingBinary(t *testing.T) {
	if _, err := Build(Options{Binary: filepath.Join(t.TempDir(), "missing"), OS: "linux", Architecture: "amd64"}); err == nil {
		t.Error("Build of a missing binary succeeded")
	}
	if _, err := Build(Options{Binary: t.TempDir(), OS: "linux", Architecture: "amd64"}); err == nil {
		t.Error("Build of a directory succeeded")
	}
	if err := Write(filepath.Join(t.TempDir(), "x.tar"), "Not A Valid:ref:", nil); err == nil {
		t.Error("Write with an invalid reference succeeded")
	}
}

func keys(m map[string]*tar.Header) []string { return slices.Sorted(maps.Keys(m)) }
