package translate

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// headerOps is a VirtualService headers block in Envoy's terms. Authority is
// the Host/:authority value to set, which Envoy does through a host rewrite.
type headerOps struct {
	RequestAdd     []*corev3.HeaderValueOption
	RequestRemove  []string
	ResponseAdd    []*corev3.HeaderValueOption
	ResponseRemove []string
	Authority      string
}

// translateHeaders converts set (overwrite) and add (append) operations,
// each sorted by header name, and removals. Pseudo-headers and Host cannot
// be manipulated as headers and are dropped, except that setting the
// authority is kept aside for a host rewrite.
func translateHeaders(h *networking.Headers) headerOps {
	req, resp := h.GetRequest(), h.GetResponse()
	setOps, setAuthority := headerValues(req.GetSet(), corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	addOps, addAuthority := headerValues(req.GetAdd(), corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	respSet, _ := headerValues(resp.GetSet(), corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	respAdd, _ := headerValues(resp.GetAdd(), corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	ops := headerOps{
		RequestAdd:     append(setOps, addOps...),
		RequestRemove:  dropInternalHeaders(req.GetRemove()),
		ResponseAdd:    append(respSet, respAdd...),
		ResponseRemove: dropInternalHeaders(resp.GetRemove()),
		Authority:      addAuthority,
	}
	if setAuthority != "" {
		ops.Authority = setAuthority
	}
	return ops
}

func headerValues(headers map[string]string, action corev3.HeaderValueOption_HeaderAppendAction) ([]*corev3.HeaderValueOption, string) {
	var out []*corev3.HeaderValueOption
	authority := ""
	for _, name := range orderedKeys(headers) {
		value := headers[name]
		if isAuthorityHeader(name) {
			authority = value
		}
		if isInternalHeader(name) {
			continue
		}
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: name, Value: value},
			AppendAction: action,
		})
	}
	return out, authority
}

func isInternalHeader(name string) bool {
	return strings.HasPrefix(name, ":") || strings.EqualFold(name, "host")
}

func isAuthorityHeader(name string) bool {
	return strings.EqualFold(name, ":authority") || strings.EqualFold(name, "host")
}

func dropInternalHeaders(names []string) []string {
	var out []string
	for _, n := range names {
		if !isInternalHeader(n) {
			out = append(out, n)
		}
	}
	return out
}
