package policy

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
)

var (
	// dns1123Label is a lowercase RFC 1123 label, as Kubernetes names use.
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// hostLabel is a DNS label as Istio accepts it in host names (any case).
	hostLabel = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`)
	// wildcardHostLabel is the first label of a host, which may be "*" or
	// start with "*".
	wildcardHostLabel = regexp.MustCompile(`^(\*|(\*|\*-)?[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)$`)
	// labelName is the name part of a Kubernetes label key, and a label value.
	labelName = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	// headerName is an HTTP header name as Istio accepts it.
	headerName = regexp.MustCompile(`^[-_A-Za-z0-9]+$`)
	// headerValue rejects control characters other than tab.
	headerValue = regexp.MustCompile("^[^\u0000-\u0008\u000A-\u001F\u007F]*$")
)

func checkDNS1123Label(s string) error {
	if len(s) > 63 || !dns1123Label.MatchString(s) {
		return fmt.Errorf("%q is not a valid DNS label (lowercase letters, digits and '-', at most 63 characters)", s)
	}
	return nil
}

func checkDNS1123Subdomain(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", s)
	}
	for _, part := range strings.Split(s, ".") {
		if !dns1123Label.MatchString(part) || len(part) > 63 {
			return fmt.Errorf("%q is not a valid DNS-1123 subdomain (lowercase letters, digits, '-' and '.')", s)
		}
	}
	return nil
}

func checkDomainLength(name string) error {
	switch {
	case name == "":
		return errors.New("empty host name")
	case len(name) > 255:
		return fmt.Errorf("host name %q is longer than 255 characters", name)
	}
	return nil
}

// checkHostLabels checks dot-separated labels; a trailing dot is allowed and
// the top-level label cannot be all digits.
func checkHostLabels(domain string) error {
	parts := strings.Split(domain, ".")
	if _, err := strconv.Atoi(parts[len(parts)-1]); err == nil {
		return fmt.Errorf("host name %q is invalid: the top-level label cannot be all digits", domain)
	}
	for i, label := range parts {
		if i == len(parts)-1 && label == "" && i > 0 {
			return nil
		}
		if len(label) > 63 || !hostLabel.MatchString(label) {
			return fmt.Errorf("host name %q is invalid (label %q)", domain, label)
		}
	}
	return nil
}

// checkFQDN checks a DNS name without wildcards (short names included).
func checkFQDN(name string) error {
	if err := checkDomainLength(name); err != nil {
		return err
	}
	return checkHostLabels(name)
}

// checkWildcardHost checks a host that may start with a wildcard label, such
// as "*", "*.example.com" or "reviews".
func checkWildcardHost(name string) error {
	if err := checkDomainLength(name); err != nil {
		return err
	}
	first, rest, more := strings.Cut(name, ".")
	if len(first) > 63 || !wildcardHostLabel.MatchString(first) {
		return fmt.Errorf("host name %q is invalid (label %q)", name, first)
	}
	if more {
		return checkHostLabels(rest)
	}
	return nil
}

// checkNoPartialWildcard rejects wildcards other than "*" and "*.suffix".
func checkNoPartialWildcard(name string) error {
	if strings.Contains(name, "*") && name != "*" && !strings.HasPrefix(name, "*.") {
		return fmt.Errorf("partial wildcard %q is not allowed", name)
	}
	if strings.Count(name, "*") > 1 {
		return fmt.Errorf("host %q has more than one wildcard", name)
	}
	return nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func checkIP(s string) error {
	if !isIP(s) {
		return fmt.Errorf("%q is not a valid IP address", s)
	}
	return nil
}

// checkIPOrCIDR accepts "10.0.0.1", "10.0.0.0/8" or "2001:db8::/32".
func checkIPOrCIDR(s string) error {
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q is not a valid CIDR block", s)
		}
		return nil
	}
	return checkIP(s)
}

func checkPort(port int64) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port number %d must be in the range 1..65535", port)
	}
	return nil
}

func checkPortName(name string) error {
	if len(name) > 63 || !hostLabel.MatchString(name) {
		return fmt.Errorf("invalid port name %q (letters, digits and '-', at most 63 characters)", name)
	}
	return nil
}

// protocols are the port protocols Istio understands (case-insensitive).
var protocols = map[string]bool{
	"http": true, "https": true, "http2": true, "http_proxy": true, "grpc": true, "grpc-web": true,
	"tcp": true, "tls": true, "udp": true, "mongo": true, "redis": true, "mysql": true,
}

// checkProtocol accepts an empty protocol (sniffed) or a known one.
func checkProtocol(p string) error {
	if p != "" && !protocols[strings.ToLower(p)] {
		return fmt.Errorf("unsupported protocol %q (want HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, UDP, MONGO, REDIS or MYSQL)", p)
	}
	return nil
}

func isHTTPProtocol(p string) bool {
	switch strings.ToLower(p) {
	case "http", "http2", "http_proxy", "grpc", "grpc-web":
		return true
	}
	return false
}

func isTLSProtocol(p string) bool {
	switch strings.ToLower(p) {
	case "https", "tls":
		return true
	}
	return false
}

// checkDuration requires a duration of at least 1ms with millisecond precision.
func checkDuration(d *durationpb.Duration) error {
	if err := d.CheckValid(); err != nil {
		return fmt.Errorf("invalid duration: %w", err)
	}
	dur := d.AsDuration()
	if dur.Milliseconds() < 1 {
		return fmt.Errorf("duration %s must be at least 1ms", dur)
	}
	if dur.Nanoseconds()%1e6 != 0 {
		return fmt.Errorf("duration %s must be a whole number of milliseconds", dur)
	}
	return nil
}

// checkPercent checks an integer percentage.
func checkPercent(v int64) error {
	if v < 0 || v > 100 {
		return fmt.Errorf("percentage %d must be in the range 0..100", v)
	}
	return nil
}

// checkFractionalPercent accepts 0 or a value in [0.0001, 100].
func checkFractionalPercent(v float64) error {
	if v < 0 || v > 100 || (v > 0 && v < 0.0001) {
		return fmt.Errorf("percentage %v must be 0 or in the range 0.0001..100", v)
	}
	return nil
}

// checkRegex compiles re as RE2 (Envoy's dialect) and bounds its size.
func checkRegex(re string) error {
	if re == "" {
		return errors.New("regex must not be empty")
	}
	if len(re) > 1024 {
		return errors.New("regex is longer than 1024 characters")
	}
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("invalid RE2 regex: %w", err)
	}
	return nil
}

func checkHeaderName(name string) error {
	if !headerName.MatchString(name) {
		return fmt.Errorf("invalid header name %q", name)
	}
	return nil
}

// checkHeaderValue rejects control characters and malformed %VARIABLE% use.
func checkHeaderValue(v string) error {
	if !headerValue.MatchString(v) {
		return fmt.Errorf("header value %q contains control characters", v)
	}
	return checkPercentVariables(v)
}

// checkPercentVariables checks that "%" in a header value either escapes
// itself ("%%") or opens an Envoy variable closed by a second "%".
func checkPercentVariables(v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			continue
		}
		if i+1 < len(v) && v[i+1] == '%' {
			i++
			continue
		}
		end := strings.IndexByte(v[i+1:], '%')
		if end <= 0 {
			return fmt.Errorf("header value %q has an unterminated %%VARIABLE%%", v)
		}
		i += end + 1
	}
	return nil
}

// checkUnixPath checks the path of a unix:// address.
func checkUnixPath(p string) error {
	switch {
	case p == "":
		return errors.New("unix address must not be empty")
	case strings.HasPrefix(p, "@"):
		return nil
	case !path.IsAbs(p) || strings.HasSuffix(p, "/"):
		return fmt.Errorf("%q is not an absolute path to a file", p)
	}
	return nil
}

// checkHTTPMethod accepts the methods Go's net/http names.
func checkHTTPMethod(m string) error {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return nil
	}
	return fmt.Errorf("%q is not a supported HTTP method", m)
}

// labels checks a Kubernetes label map (also used for selectors).
func (c *checker) labels(p string, labels map[string]string) {
	for _, k := range sortedMapKeys(labels) {
		if err := checkLabelKey(k); err != nil {
			c.add(mapKey(p, k), "%v", err)
		}
		if v := labels[k]; v != "" && (len(v) > 63 || !labelName.MatchString(v)) {
			c.add(mapKey(p, k), "invalid label value %q", v)
		}
	}
}

// checkLabelKey checks "name" or "prefix/name".
func checkLabelKey(k string) error {
	name := k
	if prefix, rest, ok := strings.Cut(k, "/"); ok {
		if err := checkDNS1123Subdomain(prefix); err != nil {
			return fmt.Errorf("invalid label key %q: prefix %w", k, err)
		}
		name = rest
	}
	if len(name) > 63 || !labelName.MatchString(name) {
		return fmt.Errorf("invalid label key %q", k)
	}
	return nil
}

// selectorLabels checks a workload selector: no empty keys, no wildcards.
func (c *checker) selectorLabels(p string, labels map[string]string) {
	for _, k := range sortedMapKeys(labels) {
		v := labels[k]
		switch {
		case k == "":
			c.add(p, "empty label key is not allowed in a selector")
		case strings.Contains(k, "*") || strings.Contains(v, "*"):
			c.add(mapKey(p, k), "wildcards are not allowed in a selector")
		}
		if len(v) > 63 {
			c.add(mapKey(p, k), "label value longer than 63 characters")
		}
	}
}
