package helm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// CRDsFile is where, in a staged chart, Istio's CRDs are.
const CRDsFile = "files/istio-crds.yaml"

// Stage copies the chart in src to dst (created) and adds Istio's CRDs as
// CRDsFile.
func Stage(src, dst string) error {
	if err := copyTree(src, dst); err != nil {
		return fmt.Errorf("stage chart %s: %w", src, err)
	}
	crds, err := kubeharness.IstioCRDsPath()
	if err != nil {
		return fmt.Errorf("stage chart %s: %w", src, err)
	}
	if err := copyFile(crds, filepath.Join(dst, CRDsFile)); err != nil {
		return fmt.Errorf("stage chart %s: Istio CRDs: %w", src, err)
	}
	return nil
}

// copyTree copies the regular files under src into dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// Load loads the chart in dir.
func Load(dir string) (*chart.Chart, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	return ch, nil
}

// Package writes the chart in dir as NAME-VERSION.tgz into outDir, with
// appVersion unless it is empty, and returns its path.
func Package(dir, outDir, appVersion string) (string, error) {
	p := action.NewPackage()
	p.Destination, p.AppVersion = outDir, appVersion
	path, err := p.Run(dir, nil)
	if err != nil {
		return "", fmt.Errorf("package chart %s: %w", dir, err)
	}
	return path, nil
}

// Render renders ch for release in namespace with values, as `helm
// template` does (no cluster; the schema is checked), and returns the
// manifest.
func Render(ch *chart.Chart, release, namespace string, values map[string]any) (string, error) {
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.Replace = true
	install.ReleaseName = release
	install.Namespace = namespace
	rel, err := install.Run(ch, values)
	if err != nil {
		return "", fmt.Errorf("render chart %s: %w", ch.Name(), err)
	}
	r, ok := rel.(*releasev1.Release)
	if !ok {
		return "", errors.New("render chart: Helm returned no v1 release")
	}
	return strings.TrimSpace(r.Manifest) + "\n", nil
}
