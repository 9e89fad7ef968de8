package nodeimages

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Host files the sidecar image copies for iptables-restore.
const (
	// xtablesMulti is Debian's nf_tables iptables, one binary answering to
	// the name it is invoked as.
	xtablesMulti = "/usr/sbin/xtables-nft-multi"
	// xtablesModules holds the match and target extensions libxtables
	// loads at run time (not named by ldd).
	xtablesModules = "/usr/lib/x86_64-linux-gnu/xtables"
)

// SidecarOptions are the sidecar image's inputs.
type SidecarOptions struct {
	// Envoy is the host's Envoy binary (e.g. envoybin.Path()).
	Envoy string
	// Isthmus is a static isthmus binary; empty compiles ./cmd/isthmus.
	Isthmus string
}

// Sidecar writes the sidecar image to dir/sidecar.tar and returns its
// path: Envoy at EnvoyBinary, isthmus at IsthmusBinary, iptables-restore
// and iptables-save (nf_tables) at IptablesRestore and IptablesSave, each
// with the shared libraries it needs, at the paths ldd names. The image's
// entrypoint is Envoy; it runs as root unless the pod says otherwise
// (an injected proxy runs as 1337, the capture init container as root
// with NET_ADMIN).
func Sidecar(ctx context.Context, dir string, opts SidecarOptions) (string, error) {
	if opts.Envoy == "" {
		return "", fmt.Errorf("sidecar image: no Envoy binary given")
	}
	isthmus := opts.Isthmus
	if isthmus == "" {
		isthmus = filepath.Join(dir, "isthmus")
		if err := GoBuild(ctx, module+"/cmd/isthmus", isthmus); err != nil {
			return "", err
		}
	}
	files, err := sidecarFiles(ctx, opts.Envoy, isthmus)
	if err != nil {
		return "", fmt.Errorf("sidecar image: %w", err)
	}
	spec := Spec{Ref: SidecarRef, Entrypoint: []string{EnvoyBinary}, Files: files}
	return writeSpec(dir, "sidecar.tar", spec)
}

// sidecarFiles lists the image's files: the binaries, the iptables links
// and modules, and every library they load.
func sidecarFiles(ctx context.Context, envoy, isthmus string) ([]File, error) {
	modules, err := filepath.Glob(filepath.Join(xtablesModules, "lib*t_*.so"))
	if err != nil || len(modules) == 0 {
		return nil, fmt.Errorf("no iptables extensions in %s (is Debian's iptables installed?): %v", xtablesModules, err)
	}
	files := []File{
		{Path: EnvoyBinary, Source: envoy, Mode: 0o755},
		{Path: IsthmusBinary, Source: isthmus, Mode: 0o755},
		{Path: "/usr/sbin/xtables-nft-multi", Source: xtablesMulti, Mode: 0o755},
		{Path: IptablesRestore, Link: "xtables-nft-multi"},
		{Path: IptablesSave, Link: "xtables-nft-multi"},
		{Path: "/usr/sbin/ip6tables-restore", Link: "xtables-nft-multi"},
		{Path: "/usr/sbin/ip6tables-save", Link: "xtables-nft-multi"},
		{Path: "/usr/sbin/iptables", Link: "xtables-nft-multi"},
		{Path: "/usr/sbin/ip6tables", Link: "xtables-nft-multi"},
		{Path: "/tmp", Mode: 0o1777},
	}
	for _, m := range modules {
		files = append(files, File{Path: m, Source: m, Mode: 0o644})
	}
	libs, err := sharedLibraries(ctx, append([]string{envoy, xtablesMulti}, modules...))
	if err != nil {
		return nil, err
	}
	for _, lib := range libs {
		files = append(files, File{Path: lib, Source: lib, Mode: 0o755})
	}
	return files, nil
}

// sharedLibraries is every library ldd says binaries load, by the path
// ldd names (the dynamic loader included), sorted and without repeats.
func sharedLibraries(ctx context.Context, binaries []string) ([]string, error) {
	var libs []string
	for _, bin := range binaries {
		out, err := exec.CommandContext(ctx, "ldd", bin).Output()
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %w", bin, err)
		}
		libs = append(libs, parseLdd(out)...)
	}
	slices.Sort(libs)
	return slices.Compact(libs), nil
}

// parseLdd picks the absolute library paths of ldd's output:
// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and
// "/lib64/ld-linux-x86-64.so.2 (0x…)"; the vDSO has no file.
func parseLdd(out []byte) []string {
	var paths []string
	scanner := bufio.NewScanner(bytes.NewReader(out))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if _, after, ok := strings.Cut(line, "=> "); ok {
			line = after
		}
		if p, _, _ := strings.Cut(line, " "); strings.HasPrefix(p, "/") {
			paths = append(paths, p)
		}
	}
	return paths
}
