// Package image builds the Isthmus container image without a registry or a
// container daemon: one layer holding a static isthmus binary at
// /usr/local/bin/isthmus (root-owned, 0755) and a state directory
// /var/lib/isthmus owned by the non-root user 1337, on an empty base, with
// go-containerregistry. The image runs `isthmus serve` as user 1337:1337
// with XDG_STATE_HOME=/var/lib/isthmus, so its default --state-dir is
// /var/lib/isthmus/isthmus, which isthmus creates 0700 itself: mount a
// volume at /var/lib/isthmus (any writable one) to keep the mesh CA and the
// clusters' last catalogs across restarts, or pass --state-dir.
//
// Write stores it as a docker-archive tarball, which `docker load`,
// `ctr images import` and `kind load image-archive` accept. The command
// deploy/image/cmd/build-image (`make image`) builds it from the repository.
package image
