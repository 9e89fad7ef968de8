package demok8s

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
	"github.com/isthmus-mesh/isthmus/deploy/image"
	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
)

// The Isthmus image's repository and tag (the chart is installed with
// them).
const (
	IsthmusImageRepo = image.DefaultRepository
	IsthmusImageTag  = "demo"
)

// images are the tarballs of the images every node imports.
type images struct {
	isthmus, sidecar, demoApp string
}

func (im images) all() []string { return []string{im.isthmus, im.sidecar, im.demoApp} }

// buildImages builds the Isthmus, sidecar and demo app images into dir,
// compiling isthmus once for the first two.
func buildImages(ctx context.Context, dir string) (images, error) {
	var im images
	var errs [4]error
	var wg sync.WaitGroup
	wg.Go(func() { im.demoApp, errs[0] = nodeimages.DemoApp(ctx, dir) })
	bin := filepath.Join(dir, "isthmus-static")
	if errs[1] = nodeimages.GoBuild(ctx, "github.com/isthmus-mesh/isthmus/cmd/isthmus", bin); errs[1] == nil {
		wg.Go(func() { im.isthmus, errs[2] = buildIsthmusImage(dir, bin) })
		wg.Go(func() { im.sidecar, errs[3] = buildSidecarImage(ctx, dir, bin) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return im, fmt.Errorf("build images: %w", err)
	}
	return im, nil
}

// buildIsthmusImage layers the static binary bin as `make image` does,
// tagged IsthmusImageRepo:IsthmusImageTag.
func buildIsthmusImage(dir, bin string) (string, error) {
	img, err := image.Build(image.Options{Binary: bin, OS: "linux", Architecture: runtime.GOARCH})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "isthmus-image.tar")
	if err := image.Write(path, IsthmusImageRepo+":"+IsthmusImageTag, img); err != nil {
		return "", err
	}
	return path, nil
}

// buildSidecarImage is the sidecar image with the host's Envoy and bin.
func buildSidecarImage(ctx context.Context, dir, bin string) (string, error) {
	envoy, err := envoybin.Path()
	if err != nil {
		return "", err
	}
	return nodeimages.Sidecar(ctx, dir, nodeimages.SidecarOptions{Envoy: envoy, Isthmus: bin})
}
