package nodeimages

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// TestSpecLayer: an image holds each file at its path with its parents,
// links as links, and the config the spec gives; building twice gives
// the same image.
func TestSpecLayer(t *testing.T) {
	src := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(src, []byte("#!/bin/true\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Ref: "isthmus.local/test:dev", Entrypoint: []string{"/usr/local/bin/app"}, User: "1000:1000",
		Files: []File{
			{Path: "/usr/sbin/app-link", Link: "../local/bin/app"},
			{Path: "/usr/local/bin/app", Source: src, Mode: 0o755},
			{Path: "/tmp", Mode: 0o1777},
		},
	}
	entries := layerEntries(t, spec)
	want := map[string]string{
		"usr/": "dir 755", "usr/local/": "dir 755", "usr/local/bin/": "dir 755", "usr/local/bin/app": "file 755",
		"usr/sbin/": "dir 755", "usr/sbin/app-link": "link ../local/bin/app", "tmp/": "dir 1777",
	}
	for name, kind := range want {
		if entries[name] != kind {
			t.Errorf("layer entry %s = %q, want %q (all: %v)", name, entries[name], kind, entries)
		}
	}
	if len(entries) != len(want) {
		t.Errorf("layer has %d entries, want %d: %v", len(entries), len(want), entries)
	}
	img, err := spec.Image()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, spec.Entrypoint) || cfg.Config.User != "1000:1000" || cfg.OS != "linux" {
		t.Errorf("config = %+v", cfg.Config)
	}
	again, _ := spec.Image()
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of one spec differ: %s, %s", d1, d2)
	}
}

// layerEntries lists the image's one layer: name → "kind mode" or "link target".
func layerEntries(t *testing.T, spec Spec) map[string]string {
	t.Helper()
	img, err := spec.Image()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	entries := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			entries[hdr.Name] = "dir " + modeString(hdr.Mode)
		case tar.TypeSymlink:
			entries[hdr.Name] = "link " + hdr.Linkname
		default:
			entries[hdr.Name] = "file " + modeString(hdr.Mode)
		}
	}
}

func modeString(mode int64) string { return strconv.FormatInt(mode, 8) }

// TestParseLdd keeps the libraries' paths, the loader's included, and
// drops the vDSO.
func TestParseLdd(t *testing.T) {
	out := []byte("\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f31)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f31)\n")
	got := parseLdd(out)
	want := []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if !slices.Equal(got, want) {
		t.Errorf("parseLdd = %v, want %v", got, want)
	}
}
