package certs

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultTrustDomain is Istio's default trust domain.
const DefaultTrustDomain = "cluster.local"

const spiffeScheme = "spiffe://"

// Identity is a workload identity in Istio's form:
// spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT.
// It is comparable and used as a map key.
type Identity struct {
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

// SPIFFEID returns the identity's SPIFFE ID. It does not validate; see Validate.
func (id Identity) SPIFFEID() string {
	return spiffeScheme + id.TrustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// String returns the SPIFFE ID, so identities read well in logs.
func (id Identity) String() string { return id.SPIFFEID() }

// Validate reports whether the identity makes a valid SPIFFE ID: a lowercase
// trust domain of letters, digits, '.', '-', '_', and namespace and service
// account made of letters, digits, '.', '-', '_' (not "." or "..").
func (id Identity) Validate() error {
	if err := validateTrustDomain(id.TrustDomain); err != nil {
		return err
	}
	if err := validateSegment("namespace", id.Namespace); err != nil {
		return err
	}
	return validateSegment("service account", id.ServiceAccount)
}

// ParseSPIFFEID parses spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT.
// Anything else (another scheme, a missing or extra path segment, a query,
// characters SPIFFE does not allow) is an error that quotes the input.
func ParseSPIFFEID(s string) (Identity, error) {
	id, err := parseSPIFFEID(s)
	if err != nil {
		return Identity{}, fmt.Errorf("spiffe ID %q: %w", s, err)
	}
	return id, nil
}

func parseSPIFFEID(s string) (Identity, error) {
	rest, ok := strings.CutPrefix(s, spiffeScheme)
	if !ok {
		return Identity{}, schemeError(s)
	}
	td, path, _ := strings.Cut(rest, "/")
	ns, sa, err := parseWorkloadPath(path)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{TrustDomain: td, Namespace: ns, ServiceAccount: sa}
	return id, id.Validate()
}

func schemeError(s string) error {
	if scheme, _, found := strings.Cut(s, "://"); found {
		return fmt.Errorf("scheme is %q, want \"spiffe\"", scheme)
	}
	return errors.New("does not start with spiffe://")
}

// parseWorkloadPath splits "ns/NAMESPACE/sa/SERVICE_ACCOUNT" (the part after
// the trust domain's slash).
func parseWorkloadPath(path string) (ns, sa string, err error) {
	const want = "want path /ns/NAMESPACE/sa/SERVICE_ACCOUNT"
	segs := strings.Split(path, "/")
	switch {
	case path == "":
		return "", "", errors.New("no path, " + want)
	case segs[0] != "ns" || len(segs) < 2:
		return "", "", fmt.Errorf("path /%s does not start with /ns/NAMESPACE, %s", path, want)
	case len(segs) < 4 || segs[2] != "sa":
		return "", "", fmt.Errorf("path /%s has no /sa/SERVICE_ACCOUNT after the namespace, %s", path, want)
	case len(segs) > 4:
		return "", "", fmt.Errorf("path /%s has segments after the service account, %s", path, want)
	}
	return segs[1], segs[3], nil
}

func validateTrustDomain(td string) error {
	if td == "" {
		return errors.New("trust domain is empty")
	}
	if len(td) > 255 {
		return fmt.Errorf("trust domain is %d bytes long, at most 255 allowed", len(td))
	}
	for _, r := range td {
		if !isLowerAlnum(r) && !strings.ContainsRune(".-_", r) {
			return fmt.Errorf("trust domain %q: character %q not allowed (lowercase letters, digits, '.', '-', '_')", td, r)
		}
	}
	return nil
}

func validateSegment(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%s %q not allowed", what, s)
	}
	for _, r := range s {
		if !isLowerAlnum(r) && !(r >= 'A' && r <= 'Z') && !strings.ContainsRune(".-_", r) {
			return fmt.Errorf("%s %q: character %q not allowed (letters, digits, '.', '-', '_')", what, s, r)
		}
	}
	return nil
}

func isLowerAlnum(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
}
