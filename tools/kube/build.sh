#!/usr/bin/env bash
# Builds the multi-call Kubernetes binary (tools/kube) into the cache and
# prints its path:
#
#   ${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isthmus}/kube/$VERSION-$SOURCES/kube
#
# $SOURCES is the first 16 hex digits of the SHA-256 of this directory's
# sources (go.mod, go.sum, *.go in byte order, this script, concatenated);
# deploy/kubeharness computes the same key (BinaryPath), so a change to the
# sources (adding a component) names a new binary, and worktrees at
# different sources share one cache without rebuilding each other's. An
# existing binary is kept. A new binary is written next to its final path
# and renamed into place, so concurrent builds and interrupted ones never
# leave a partial binary behind. A cold build takes 6 to 15 minutes on 2
# cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$here/go.mod")"
[[ -n "$version" ]] || { echo "kube-bins: no k8s.io/kubernetes version in $here/go.mod" >&2; exit 1; }

cache="${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isthmus}"
sources="$(cd "$here" && LC_ALL=C && cat go.mod go.sum *.go build.sh | sha256sum | cut -c1-16)"
dir="$cache/kube/$version-$sources"
bin="$dir/kube"

if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

minor="${version#v1.}"
minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

mkdir -p "$dir"
tmp="$(mktemp "$dir/.kube.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

echo "kube-bins: building Kubernetes $version into $bin (takes several minutes the first time)" >&2
start=$SECONDS
(
	cd "$here"
	GOFLAGS="-trimpath -buildvcs=false" GOWORK=off CGO_ENABLED=0 \
		"${GO:-go}" build -ldflags "$ldflags" -o "$tmp" .
)
"$tmp" kube-apiserver --version | grep -qx "Kubernetes $version" || {
	echo "kube-bins: the built binary does not report Kubernetes $version:" >&2
	"$tmp" kube-apiserver --version >&2
	exit 1
}
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
trap - EXIT
echo "kube-bins: built $bin in $((SECONDS - start)) s ($(du -h "$bin" | cut -f1))" >&2
echo "$bin"
