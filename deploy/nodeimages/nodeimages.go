package nodeimages

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Image references the builders tag their images with.
const (
	// PauseRef is the sandbox image kubeharness's containerd is configured
	// with.
	PauseRef = "registry.k8s.io/pause:3.10"
	// DemoAppRef is the demo HTTP app.
	DemoAppRef = "isthmus.local/demoapp:dev"
	// SidecarRef is Envoy, isthmus and iptables-restore in one image.
	SidecarRef = "isthmus.local/sidecar:dev"
)

// Paths inside the images.
const (
	PauseBinary   = "/pause"
	DemoAppBinary = "/usr/local/bin/demoapp"
	EnvoyBinary   = "/usr/local/bin/envoy"
	IsthmusBinary = "/usr/local/bin/isthmus"
	// IptablesRestore and IptablesSave are links to Debian's
	// xtables-nft-multi in the sidecar image.
	IptablesRestore = "/usr/sbin/iptables-restore"
	IptablesSave    = "/usr/sbin/iptables-save"
)

// module is this repository's Go module path.
const module = "github.com/isthmus-mesh/isthmus"

// Pause compiles the pause program and writes its image to dir/pause.tar,
// returning the tarball's path.
func Pause(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "pause")
	if err := GoBuild(ctx, module+"/deploy/nodeimages/pause", bin); err != nil {
		return "", err
	}
	spec := Spec{Ref: PauseRef, Entrypoint: []string{PauseBinary}, Files: []File{{Path: PauseBinary, Source: bin, Mode: 0o755}}}
	return writeSpec(dir, "pause.tar", spec)
}

// DemoApp compiles deploy/demoapp and writes its image to
// dir/demoapp.tar, returning the tarball's path. The app runs as 1000:1000.
func DemoApp(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "demoapp")
	if err := GoBuild(ctx, module+"/deploy/demoapp", bin); err != nil {
		return "", err
	}
	spec := Spec{
		Ref: DemoAppRef, Entrypoint: []string{DemoAppBinary}, User: "1000:1000",
		Files: []File{{Path: DemoAppBinary, Source: bin, Mode: 0o755}},
	}
	return writeSpec(dir, "demoapp.tar", spec)
}

func writeSpec(dir, name string, spec Spec) (string, error) {
	path := filepath.Join(dir, name)
	if err := spec.Write(path); err != nil {
		return "", err
	}
	return path, nil
}

// GoBuild compiles the main package pkg (an import path of this module)
// into out, static, for linux and the host's architecture.
func GoBuild(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, strings.TrimSpace(string(output)))
	}
	return nil
}
