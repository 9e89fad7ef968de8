#!/usr/bin/env bash
# Builds the Consul agent pinned by this directory's go.mod (v1.16.3, the last
# MPL-2.0 release that builds; every later version is under the Business
# Source License and must never be used) into the cache, once, and prints
# its path:
#
#   ${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isthmus}/consul/$VERSION/consul
#
# An existing binary is kept while consul.stamp next to it matches this
# directory's sources (go.mod, go.sum, tools.go, this script). A new binary
# is written next to the old one and renamed into place, so concurrent and
# interrupted builds never leave a partial binary behind. A cold build takes
# about 6 minutes and 2 GB of memory on 2 cores; it runs with -p 1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '$1 == "require" && $2 == "github.com/hashicorp/consul" { print $3; exit }' "$here/go.mod")"
[[ "$version" == v1.16.3 ]] || { echo "consul-bin: $here/go.mod pins consul $version; only v1.16.3 (MPL-2.0) may be used" >&2; exit 1; }

cache="${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isthmus}"
dir="$cache/consul/$version"
bin="$dir/consul"
stamp="$(cd "$here" && cat go.mod go.sum tools.go build.sh | sha256sum | cut -c1-16)"

if [[ -x "$bin" && "$(cat "$dir/consul.stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
tmp="$(mktemp "$dir/.consul.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

echo "consul-bin: building Consul $version into $bin (about 6 minutes the first time)" >&2
start=$SECONDS
(
	cd "$here"
	GOFLAGS="-trimpath -buildvcs=false -mod=readonly" GOWORK=off CGO_ENABLED=0 \
		"${GO:-go}" build -p 1 -ldflags "-s -w" -o "$tmp" github.com/hashicorp/consul
)
"$tmp" version | head -1 | grep -qx "Consul ${version}" || {
	echo "consul-bin: the built binary does not report Consul $version:" >&2
	"$tmp" version >&2
	exit 1
}
chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
trap - EXIT
echo "$stamp" > "$dir/.consul.stamp.$$" && mv -f "$dir/.consul.stamp.$$" "$dir/consul.stamp"
echo "consul-bin: built $bin in $((SECONDS - start)) s ($(du -h "$bin" | cut -f1))" >&2
echo "$bin"
