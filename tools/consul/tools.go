//go:build tools

// Package consul pins the Consul agent (github.com/hashicorp/consul v1.16.3,
// MPL-2.0) that Isthmus's tests run as `consul agent -dev`. build.sh builds
// it into the cache; it is not part of the Isthmus module and never ships.
package consul

import _ "github.com/hashicorp/consul"
