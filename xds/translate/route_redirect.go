package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// redirectCodes maps the HTTP codes a VirtualService may redirect with.
var redirectCodes = map[uint32]routev3.RedirectAction_RedirectResponseCode{
	0:   routev3.RedirectAction_MOVED_PERMANENTLY,
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// redirectAction converts a redirect; nil for a redirect code Envoy cannot
// send, in which case the route is left out.
func redirectAction(in *networking.HTTPRedirect, listenerPort uint32) *routev3.RedirectAction {
	code, ok := redirectCodes[in.GetRedirectCode()]
	if !ok {
		return nil
	}
	out := &routev3.RedirectAction{HostRedirect: in.GetAuthority(), ResponseCode: code}
	switch {
	case in.GetUri() != "":
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: in.GetUri()}
	case in.GetPrefixRewrite() != "":
		out.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: in.GetPrefixRewrite()}
	}
	if in.GetScheme() != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: in.GetScheme()}
	}
	if in.GetRedirectPort() != nil {
		out.PortRedirect = redirectPort(in, listenerPort)
	}
	return out
}

// redirectPort is the port to redirect to; a derived request port is the
// listener port, and the scheme's default port is left implicit.
func redirectPort(in *networking.HTTPRedirect, listenerPort uint32) uint32 {
	port := in.GetPort()
	if in.GetDerivePort() == networking.HTTPRedirect_FROM_REQUEST_PORT {
		port = listenerPort
	}
	scheme := in.GetScheme()
	if scheme == "" {
		scheme = "http"
	}
	if (port == 80 && scheme == "http") || (port == 443 && scheme == "https") {
		return 0
	}
	return port
}

// directResponseAction answers without forwarding.
func directResponseAction(in *networking.HTTPDirectResponse) *routev3.DirectResponseAction {
	out := &routev3.DirectResponseAction{Status: in.GetStatus()}
	switch b := in.GetBody().GetSpecifier().(type) {
	case *networking.HTTPBody_String_:
		out.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: b.String_}}
	case *networking.HTTPBody_Bytes:
		out.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b.Bytes}}
	}
	return out
}
