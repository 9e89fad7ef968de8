package certs

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ReloadCA loads the CA in dir as LoadOrCreateCA checks it at start (dir
// private, ca-key.pem not readable by others, then LoadCA), creating
// nothing.
func ReloadCA(dir, trustDomain string) (*CA, error) {
	if err := CheckDirPrivate(dir); err != nil {
		return nil, fmt.Errorf("CA directory: %w", err)
	}
	if err := checkKeyPrivate(dir); err != nil {
		return nil, fmt.Errorf("CA in %s: %w", dir, err)
	}
	return LoadCA(dir, trustDomain)
}

// FollowCADir rotates the Issuer (Rotate) to the CA in dir, Istio's
// cacerts layout, whenever the content of its files changes, checked every
// interval, until ctx ends. Contents are compared, not names or times, so a
// Kubernetes Secret volume swapping its ..data symlink, files replaced by
// rename or rewritten in place are all seen. A CA that does not load
// (ReloadCA: a partial copy, a key that does not match, an expired
// certificate, another trust domain) is logged and ignored: the current CA
// keeps signing, and the next change is tried again.
//
// The first check compares the directory with the CA in use, not with the
// directory as it was when FollowCADir began: a change between loading the
// CA and following the directory is not missed.
func (i *Issuer) FollowCADir(ctx context.Context, dir string, interval time.Duration) {
	var last [sha256.Size]byte
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		sig := caDirSignature(dir)
		if sig == last {
			continue
		}
		last = sig
		ca, err := ReloadCA(dir, i.trustDomain)
		if err == nil && sameCA(ca, i.CA()) {
			continue
		}
		if err == nil {
			err = i.Rotate(ca)
		}
		if err != nil {
			i.opts.Logger.Error("changed mesh CA not used; the current CA keeps signing", "ca_dir", dir, "error", err)
			continue
		}
		i.opts.Logger.Info("mesh CA reloaded", "ca_dir", dir, "expires", ca.NotAfter())
	}
}

// caDirSignature digests the cacerts files of dir (following symlinks), a
// missing or unreadable file counting as such.
func caDirSignature(dir string) [sha256.Size]byte {
	h := sha256.New()
	for _, name := range []string{CACertFile, CAKeyFile, RootCertFile, CertChainFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			fmt.Fprintf(h, "%s\x00error %T\x00", name, err)
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
