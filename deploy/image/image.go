package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Paths, user and ports of the image.
const (
	// BinaryPath is where the isthmus binary is in the image (the entrypoint).
	BinaryPath = "/usr/local/bin/isthmus"
	// StateHome is XDG_STATE_HOME in the image, owned by UID: isthmus keeps
	// its state in StateHome/isthmus unless --state-dir says otherwise.
	StateHome = "/var/lib/isthmus"
	// UID and GID the image runs as (not root; the one Istio's proxies use).
	UID = 1337
	GID = 1337
	// DefaultRepository is the repository of the default reference,
	// DefaultRepository:VERSION.
	DefaultRepository = "isthmus.local/isthmus"
)

// ExposedPorts are isthmus serve's default ports: plaintext xDS, xDS over
// TLS, monitoring, the validating admission webhook.
var ExposedPorts = []string{"15010/tcp", "15012/tcp", "15014/tcp", "15017/tcp"}

// Options describe the image to build.
type Options struct {
	// Binary is the path of a static isthmus binary for OS/Architecture.
	Binary string
	// OS and Architecture of the binary ("linux", "amd64"); Variant is
	// optional ("v7" for GOARM=7).
	OS, Architecture, Variant string
	// Created is the image's creation time and the layer's file times;
	// the zero value is the Unix epoch, so that the same binary and
	// options give the same image.
	Created time.Time
	// Labels are added to the image's config, e.g.
	// org.opencontainers.image.version.
	Labels map[string]string
}

// Build returns the image: Options.Binary at BinaryPath in one layer on an
// empty base, run as UID:GID with entrypoint [BinaryPath] and cmd ["serve"].
func Build(opts Options) (v1.Image, error) {
	if opts.Binary == "" || opts.OS == "" || opts.Architecture == "" {
		return nil, errors.New("image: Binary, OS and Architecture are required")
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC().Truncate(time.Second)
	layerData, err := layerTar(opts.Binary, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "isthmus deploy/image: " + BinaryPath + ", " + StateHome,
			Comment:   "static isthmus binary",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS = opts.OS
	cfg.Architecture = opts.Architecture
	cfg.Variant = opts.Variant
	cfg.Created = v1.Time{Time: created}
	cfg.Author = "Isthmus"
	cfg.Config.Entrypoint = []string{BinaryPath}
	cfg.Config.Cmd = []string{"serve"}
	cfg.Config.User = strconv.Itoa(UID) + ":" + strconv.Itoa(GID)
	cfg.Config.WorkingDir = StateHome
	cfg.Config.Env = []string{
		"PATH=/usr/local/bin",
		"HOME=" + StateHome,
		"XDG_STATE_HOME=" + StateHome,
	}
	cfg.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range ExposedPorts {
		cfg.Config.ExposedPorts[p] = struct{}{}
	}
	cfg.Config.StopSignal = "SIGTERM"
	if len(opts.Labels) > 0 {
		cfg.Config.Labels = make(map[string]string, len(opts.Labels))
		for k, v := range opts.Labels {
			cfg.Config.Labels[k] = v
		}
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	return img, nil
}

// Write writes img as a docker-archive tarball at path, tagged ref
// (e.g. isthmus.local/isthmus:v1.2.3).
func Write(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image: reference %q: %w", ref, err)
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image: %w", err)
	}
	return os.Rename(tmp, path)
}

// layerTar is the gzipped tar of the one layer: the directories down to
// BinaryPath (root, 0755), the binary (root, 0755), /tmp (1777) and
// StateHome (UID:GID, 0755).
func layerTar(binary string, mtime time.Time) ([]byte, error) {
	f, err := os.Open(binary)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("image: %s is not a regular file", binary)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	dir := func(name string, mode int64, uid, gid int) error {
		return tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: uid, Gid: gid,
			ModTime: mtime, Format: tar.FormatPAX,
		})
	}
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/", "var/", "var/lib/"} {
		if err := dir(d, 0o755, 0, 0); err != nil {
			return nil, err
		}
	}
	if err := dir(StateHome[1:]+"/", 0o755, UID, GID); err != nil {
		return nil, err
	}
	if err := dir("tmp/", 0o1777, 0, 0); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: BinaryPath[1:], Mode: 0o755, Size: info.Size(),
		ModTime: mtime, Format: tar.FormatPAX,
	}); err != nil {
		return nil, err
	}
	if n, err := io.Copy(tw, f); err != nil {
		return nil, fmt.Errorf("image: %s: %w", binary, err)
	} else if n != info.Size() {
		return nil, fmt.Errorf("image: %s changed size while read", binary)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
