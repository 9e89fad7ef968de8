// Command build-image builds the Isthmus container image from the repository
// without a registry or a container daemon, and writes it as a
// docker-archive tarball (`ctr -n k8s.io images import`, `docker load`,
// `kind load image-archive`):
//
//	go run ./deploy/image/cmd/build-image [--out bin/isthmus-image.tar] [--ref isthmus.local/isthmus:VERSION] [--arch GOARCH] [--binary PATH]
//
// Without --binary it compiles ./cmd/isthmus statically (CGO_ENABLED=0,
// GOOS=linux, -trimpath) into bin/isthmus-linux-ARCH first. VERSION and the
// org.opencontainers.image labels come from git (describe, rev-parse, the
// commit time) when it is available.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/image"
)

const source = "https://github.com/isthmus-mesh/isthmus"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "build-image:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		out     = flag.String("out", "bin/isthmus-image.tar", "`PATH` of the docker-archive tarball to write")
		ref     = flag.String("ref", "", "image `REFERENCE` (default "+image.DefaultRepository+":VERSION)")
		arch    = flag.String("arch", runtime.GOARCH, "`GOARCH` of the image (linux only)")
		binary  = flag.String("binary", "", "static linux isthmus binary to use instead of building ./cmd/isthmus")
		version = flag.String("version", "", "image version (default: git describe --tags --always --dirty, else dev)")
		goCmd   = flag.String("go", envOr("GO", "go"), "go `COMMAND` to build with")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	ctx := context.Background()

	if *version == "" {
		*version = git(ctx, "describe", "--tags", "--always", "--dirty")
		if *version == "" {
			*version = "dev"
		}
	}
	if *ref == "" {
		*ref = image.DefaultRepository + ":" + sanitizeTag(*version)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":   "isthmus",
		"org.opencontainers.image.source":  source,
		"org.opencontainers.image.version": *version,
	}
	if rev := git(ctx, "rev-parse", "HEAD"); rev != "" {
		labels["org.opencontainers.image.revision"] = rev
	}
	created := time.Unix(0, 0)
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		if s, err := strconv.ParseInt(epoch, 10, 64); err == nil {
			created = time.Unix(s, 0)
		}
	} else if ct := git(ctx, "log", "-1", "--format=%ct"); ct != "" {
		if s, err := strconv.ParseInt(ct, 10, 64); err == nil {
			created = time.Unix(s, 0)
		}
	}
	labels["org.opencontainers.image.created"] = created.UTC().Format(time.RFC3339)

	variant := ""
	if *arch == "arm" {
		variant = "v" + envOr("GOARM", "7")
	}
	if *binary == "" {
		*binary = filepath.Join("bin", "isthmus-linux-"+*arch)
		start := time.Now()
		cmd := exec.CommandContext(ctx, *goCmd, "build", "-trimpath", "-ldflags=-s -w", "-o", *binary, "./cmd/isthmus")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+*arch)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/isthmus: %w", err)
		}
		fmt.Fprintf(os.Stderr, "build-image: built %s (static, linux/%s) in %s\n", *binary, *arch, time.Since(start).Round(100*time.Millisecond))
	}

	img, err := image.Build(image.Options{
		Binary: *binary, OS: "linux", Architecture: *arch, Variant: variant,
		Created: created, Labels: labels,
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := image.Write(*out, *ref, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	info, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%s, linux/%s, %.1f MB)\n", *out, *ref, digest, *arch, float64(info.Size())/1e6)
	return nil
}

// git runs git in the current directory and returns its trimmed output, or
// "" when git is missing or fails.
func git(ctx context.Context, args ...string) string {
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Stdout = &stdout
	if cmd.Run() != nil {
		return ""
	}
	return strings.TrimSpace(stdout.String())
}

// sanitizeTag makes version a valid tag: [A-Za-z0-9_.-], at most 128
// characters, not starting with '.' or '-'.
func sanitizeTag(version string) string {
	b := []byte(version)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	s := strings.TrimLeft(string(b), ".-")
	if len(s) > 128 {
		s = s[:128]
	}
	if s == "" {
		return "dev"
	}
	return s
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
