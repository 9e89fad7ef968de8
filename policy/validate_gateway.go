package policy

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

func (c *checker) gateway(gw *networking.Gateway) {
	c.selectorLabels("spec.selector", gw.GetSelector())
	if len(gw.GetServers()) == 0 {
		c.add("spec.servers", "a Gateway needs at least one server")
	}
	portNames := map[string]bool{}
	for i, s := range gw.GetServers() {
		p := index("spec.servers", i)
		if s == nil {
			c.add(p, "server must not be null")
			continue
		}
		c.server(p, s)
		if name := s.GetPort().GetName(); s.GetPort() != nil {
			if portNames[name] {
				c.add(field(p, "port.name"), "duplicate port name %q (server port names must be unique)", name)
			}
			portNames[name] = true
		}
	}
}

func (c *checker) server(p string, s *networking.Server) {
	if len(s.GetHosts()) == 0 {
		c.add(field(p, "hosts"), "a server needs at least one host")
	}
	for i, h := range s.GetHosts() {
		c.check(index(field(p, "hosts"), i), checkNamespacedHost(h, true))
	}
	portOK := c.serverPort(field(p, "port"), s.GetPort(), s.GetBind())
	c.serverBind(p, s)
	c.serverTLS(field(p, "tls"), s.GetTls())
	if portOK {
		c.serverTLSForProtocol(p, s)
	}
}

// serverPort checks the port and reports whether it is usable.
func (c *checker) serverPort(p string, port *networking.Port, bind string) bool {
	if port == nil {
		c.add(p, "port is required")
		return false
	}
	errs := len(c.errs)
	if err := checkProtocol(port.GetProtocol()); err != nil || port.GetProtocol() == "" {
		c.add(field(p, "protocol"), "a server needs a protocol: HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP or TLS")
	}
	if port.GetNumber() > 0 || !strings.HasPrefix(bind, unixPrefix) {
		c.check(field(p, "number"), checkPort(int64(port.GetNumber())))
	}
	//nolint:staticcheck // targetPort is deprecated and meaningless here
	if port.GetTargetPort() > 0 {
		c.add(field(p, "targetPort"), "targetPort has no effect on a Gateway")
	}
	if port.GetName() == "" {
		c.add(field(p, "name"), "port name is required")
	}
	return len(c.errs) == errs
}

func (c *checker) serverBind(p string, s *networking.Server) {
	bind := s.GetBind()
	switch {
	case strings.HasPrefix(bind, unixPrefix):
		c.check(field(p, "bind"), checkUnixPath(strings.TrimPrefix(bind, unixPrefix)))
		if s.GetPort().GetNumber() != 0 {
			c.add(field(p, "port.number"), "port number must be 0 for a unix socket bind")
		}
	case bind != "":
		c.check(field(p, "bind"), checkIP(bind))
	}
}

// serverTLSForProtocol: HTTPS and TLS servers need TLS settings; plain
// servers may only ask for an HTTPS redirect.
func (c *checker) serverTLSForProtocol(p string, s *networking.Server) {
	proto := s.GetPort().GetProtocol()
	tls := s.GetTls()
	switch {
	case isTLSProtocol(proto) && tls == nil:
		c.add(field(p, "tls"), "a %s server needs tls settings", proto)
	case !isTLSProtocol(proto) && tls != nil && !isHTTPProtocol(proto):
		c.add(field(p, "tls"), "a %s server cannot have tls settings", proto)
	case !isTLSProtocol(proto) && tls != nil:
		if !redirectOnly(tls) {
			c.add(field(p, "tls"), "a plain-text HTTP server can only set tls.httpsRedirect")
		}
	}
	if !isHTTPProtocol(proto) && tls.GetHttpsRedirect() {
		c.add(field(p, "tls.httpsRedirect"), "httpsRedirect only applies to HTTP servers")
	}
}

// redirectOnly reports whether tls asks for nothing but an HTTPS redirect.
func redirectOnly(tls *networking.ServerTLSSettings) bool {
	return tls.GetMode() == networking.ServerTLSSettings_PASSTHROUGH &&
		tls.GetCaCertificates() == "" && tls.GetPrivateKey() == "" && tls.GetServerCertificate() == "" &&
		tls.GetCredentialName() == "" && len(tls.GetCredentialNames()) == 0 && len(tls.GetTlsCertificates()) == 0
}

// serverTLS checks server-side TLS settings for consistency with the mode.
func (c *checker) serverTLS(p string, tls *networking.ServerTLSSettings) {
	if tls == nil {
		return
	}
	c.serverCredentialSources(p, tls)
	switch tls.GetMode() {
	case networking.ServerTLSSettings_ISTIO_MUTUAL:
		if tls.GetServerCertificate() != "" || tls.GetPrivateKey() != "" || tls.GetCaCertificates() != "" || tls.GetCredentialName() != "" {
			c.add(field(p, "mode"), "ISTIO_MUTUAL uses the mesh certificates; serverCertificate, privateKey, caCertificates and credentialName cannot be set")
		}
	case networking.ServerTLSSettings_SIMPLE, networking.ServerTLSSettings_MUTUAL, networking.ServerTLSSettings_OPTIONAL_MUTUAL:
		c.serverCertificates(p, tls)
	}
	if tls.GetCaCrl() != "" {
		if tls.GetCredentialName() != "" {
			c.add(field(p, "caCrl"), "caCrl cannot be used with credentialName (put the CRL in the credential)")
		}
		if tls.GetMode() == networking.ServerTLSSettings_SIMPLE {
			c.add(field(p, "caCrl"), "caCrl is not supported with SIMPLE mode")
		}
	}
}

// serverCredentialSources: credentialName, credentialNames and
// tlsCertificates are alternatives.
func (c *checker) serverCredentialSources(p string, tls *networking.ServerTLSSettings) {
	sources := 0
	for _, set := range []bool{tls.GetCredentialName() != "", len(tls.GetCredentialNames()) > 0, len(tls.GetTlsCertificates()) > 0} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		c.add(p, "only one of credentialName, credentialNames and tlsCertificates can be set")
	}
	if n := len(tls.GetCredentialNames()); n > 2 {
		c.add(field(p, "credentialNames"), "at most 2 credentialNames can be set")
	}
	if n := len(tls.GetTlsCertificates()); n > 2 {
		c.add(field(p, "tlsCertificates"), "at most 2 tlsCertificates can be set")
	}
}

// serverCertificates: SIMPLE and MUTUAL need certificate files unless they
// come from a credential.
func (c *checker) serverCertificates(p string, tls *networking.ServerTLSSettings) {
	if tls.GetCredentialName() != "" || len(tls.GetCredentialNames()) > 0 || len(tls.GetTlsCertificates()) > 0 {
		return
	}
	mode := tls.GetMode()
	if tls.GetServerCertificate() == "" {
		c.add(field(p, "serverCertificate"), "%v mode needs serverCertificate (or credentialName)", mode)
	}
	if tls.GetPrivateKey() == "" {
		c.add(field(p, "privateKey"), "%v mode needs privateKey (or credentialName)", mode)
	}
	if mode != networking.ServerTLSSettings_SIMPLE && tls.GetCaCertificates() == "" {
		c.add(field(p, "caCertificates"), "%v mode needs caCertificates (or credentialName)", mode)
	}
}
