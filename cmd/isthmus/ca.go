package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/isthmus-mesh/isthmus/certs"
)

// stateCADir is where, under the state directory, the mesh CA is kept.
const stateCADir = "ca"

// defaultStateDir is the state directory without --state-dir:
// $XDG_STATE_HOME/isthmus, else ~/.local/state/isthmus, else, for a user
// without a home, isthmus-UID under the system's temporary directory.
func defaultStateDir() string {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "isthmus")
	}
	if home, err := os.UserHomeDir(); err == nil && filepath.IsAbs(home) {
		return filepath.Join(home, ".local", "state", "isthmus")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("isthmus-%d", os.Getuid()))
}

// openCA returns the mesh CA: the one in --ca-dir; an in-memory one with
// --ephemeral-ca, or without a state directory (options not made from
// flags: --state-dir cannot be empty); otherwise the one in the state
// directory's ca/, created there on the first start, so restarts keep the
// root.
func openCA(opts serveOptions, logger *slog.Logger) (*certs.CA, error) {
	trustDomain := cmp.Or(opts.trustDomain, certs.DefaultTrustDomain)
	switch {
	case opts.caDir != "":
		return loadCA(opts.caDir, "--ca-dir", trustDomain, logger)
	case opts.ephemeralCA || opts.stateDir == "":
		return ephemeralCA(trustDomain, logger)
	}
	if err := prepareStateDir(opts.stateDir); err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	return loadCA(filepath.Join(opts.stateDir, stateCADir), "--state-dir", trustDomain, logger)
}

// caCheckInterval is how often the CA directory is checked for a new CA.
const caCheckInterval = 2 * time.Second

// caDirOf is the directory openCA loads the CA from, followed for root
// rotation (certs.Issuer.FollowCADir); "" for an in-memory CA.
func caDirOf(opts serveOptions) string {
	switch {
	case opts.caDir != "":
		return opts.caDir
	case opts.ephemeralCA || opts.stateDir == "":
		return ""
	}
	return filepath.Join(opts.stateDir, stateCADir)
}

// loadCA loads, or creates, the CA in dir; errors name flag.
func loadCA(dir, flag, trustDomain string, logger *slog.Logger) (*certs.CA, error) {
	ca, err := certs.LoadOrCreateCA(dir, trustDomain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	logger.Info("mesh CA ready", "ca_dir", dir, "trust_domain", ca.TrustDomain(), "expires", ca.NotAfter())
	return ca, nil
}

// ephemeralCA makes a CA that lives in memory only.
func ephemeralCA(trustDomain string, logger *slog.Logger) (*certs.CA, error) {
	ca, err := certs.NewSelfSignedCA(trustDomain, certs.DefaultRootTTL)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	logger.Warn("ephemeral CA: the mesh root CA lives in memory and changes on restart", "trust_domain", trustDomain)
	return ca, nil
}

// prepareStateDir creates the state directory (0700) if it is missing, and
// refuses one that another user owns or that group or others can write.
func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := checkOwnDir(dir); err != nil {
		return err
	}
	return certs.CheckDirPrivate(dir)
}
