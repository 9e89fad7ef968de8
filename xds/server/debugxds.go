package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// The debug types istioctl asks istiod for on its ADS port, served the same
// way: a state-of-the-world request of one of them is answered once, from
// the server's state at that moment, and does not make its stream a
// proxy's.
const (
	// TypeDebugSyncz answers one envoy.service.status.v3.ClientConfig per
	// connected proxy: its node (id and the metadata istioctl reads) and
	// the state of each xDS type.
	TypeDebugSyncz = "istio.io/debug/syncz"
	// TypeDebugConfigDump answers, for the one proxy the request names,
	// what it is served, as the configs of Envoy's admin ConfigDump.
	TypeDebugConfigDump = "istio.io/debug/config_dump"
)

// isDebugType reports whether typeURL is one of the debug types.
func isDebugType(typeURL string) bool { return strings.HasPrefix(typeURL, "istio.io/debug/") }

// debugResponse is the answer to a debug request; its version is the time
// it was made.
func (s *Server) debugResponse(req *cache.Request) *discoveryv3.DiscoveryResponse {
	resp := &discoveryv3.DiscoveryResponse{
		TypeUrl:      req.GetTypeUrl(),
		VersionInfo:  strconv.FormatInt(time.Now().UnixNano(), 10),
		ControlPlane: s.controlPlane(),
	}
	switch req.GetTypeUrl() {
	case TypeDebugSyncz:
		resp.Resources = s.syncz()
	case TypeDebugConfigDump:
		if names := req.GetResourceNames(); len(names) == 1 {
			resp.Resources = s.debugConfigDump(names[0])
		}
	}
	return resp
}

// controlPlane identifies the replica as istiod does: a JSON object with
// the component, the instance and its version, which istioctl prints.
func (s *Server) controlPlane() *corev3.ControlPlane {
	id, _ := json.Marshal(map[string]any{ // a map of strings always marshals
		"Component": "isthmus",
		"ID":        s.opts.Name,
		"Info":      map[string]string{"version": s.opts.Version},
	})
	return &corev3.ControlPlane{Identifier: string(id)}
}

// syncz is one ClientConfig per connected proxy.
func (s *Server) syncz() []*anypb.Any {
	statuses := s.proxyStatuses()
	out := make([]*anypb.Any, 0, len(statuses))
	for _, ps := range statuses {
		a, err := anypb.New(clientConfig(ps))
		if err != nil {
			s.log.Error("syncz: proxy left out", "proxy", clipID(ps.ID), "error", err)
			continue
		}
		out = append(out, a)
	}
	return out
}

// clientConfig is ps as CSDS states it, named as istiod names proxies
// (POD.NAMESPACE), with the node metadata istioctl reads (CLUSTER_ID,
// NAMESPACE, ISTIO_VERSION).
func clientConfig(ps ProxyStatus) *statusv3.ClientConfig {
	meta, _ := structpb.NewStruct(map[string]any{ // strings always convert
		"CLUSTER_ID": ps.ClusterID, "NAMESPACE": ps.Namespace, "ISTIO_VERSION": ps.IstioVersion,
	})
	cc := &statusv3.ClientConfig{Node: &corev3.Node{Id: shortID(ps.ID, ps.Pod, ps.Namespace), Metadata: meta}}
	for _, t := range servedTypes {
		ts := ps.Types[typeLabel(t)]
		cc.GenericXdsConfigs = append(cc.GenericXdsConfigs, &statusv3.ClientConfig_GenericXdsConfig{
			TypeUrl: t, VersionInfo: ts.Acked, ConfigStatus: csdsStatus(ts.State),
		})
	}
	return cc
}

// csdsStatus is a sync state as CSDS names it.
func csdsStatus(state string) statusv3.ConfigStatus {
	switch state {
	case StateSynced:
		return statusv3.ConfigStatus_SYNCED
	case StateStale:
		return statusv3.ConfigStatus_STALE
	case StateNacked:
		return statusv3.ConfigStatus_ERROR
	}
	return statusv3.ConfigStatus_NOT_SENT
}

// debugConfigDump is the config dump of proxy id as the configs of a
// ConfigDump; none when the proxy is not connected here (it may be to
// another replica) or has nothing served yet.
func (s *Server) debugConfigDump(id string) []*anypb.Any {
	ps := s.debugProxy(id)
	if ps == nil {
		return nil
	}
	served := ps.servedResources()
	if served == nil {
		return nil
	}
	configs, err := envoyConfigDump(served)
	if err != nil {
		s.log.Error("config_dump not answered", "proxy", clipID(id), "error", err)
		return nil
	}
	return configs
}

// debugProxy finds the proxy a config_dump request names: by node id, or
// as istioctl names it, POD.NAMESPACE (istiod's proxy id), or else by a
// part of its node id; nil when none is connected here.
func (s *Server) debugProxy(name string) *proxyState {
	if ps := s.proxyByID(name); ps != nil {
		return ps
	}
	var partial *proxyState
	for _, ps := range s.connectedProxies() {
		if shortID(ps.proxy.ID, ps.proxy.PodName, ps.proxy.Namespace) == name {
			return ps
		}
		if partial == nil && strings.Contains(ps.proxy.ID, name) {
			partial = ps
		}
	}
	return partial
}

// shortID is a proxy's id as istiod reports it in syncz, POD.NAMESPACE,
// or the node id when the pod is unknown.
func shortID(nodeID, pod, namespace string) string {
	if pod == "" {
		return nodeID
	}
	return pod + "." + namespace
}

// authorizeDebug decides whether the stream st may read the debug type of
// req. The plaintext port is for callers inside the trust boundary, as
// istiod's 15010: any may, since any caller there can have a proxy's
// resources by claiming its node id, and dumps never hold secret content. On ServeTLS the caller must prove an identity
// (Options.Authenticator): one of Options.SystemNamespace may read
// everything, one of another namespace only the config dump of a proxy
// of its own namespace. Refusals end the stream, are counted in
// isthmus_xds_auth_failures_total and logged.
func (s *Server) authorizeDebug(st *streamState, req request) error {
	if !st.tls {
		return nil
	}
	if s.opts.Authenticator == nil {
		return s.refuseDebug(st, reasonNoAuthenticator, codes.Unauthenticated, "isthmus: no authenticator for the secure port")
	}
	id, err := s.opts.Authenticator.Authenticate(st.ctx, metadataString(req.node, "CLUSTER_ID"))
	if err != nil {
		return s.refuseDebug(st, reasonOf(err), codes.Unauthenticated, "isthmus: "+clipError(err))
	}
	if id.Namespace == s.opts.SystemNamespace || s.ownProxyDump(id.Namespace, req) {
		return nil
	}
	return s.refuseDebug(st, reasonDebugDenied, codes.PermissionDenied,
		fmt.Sprintf("isthmus: %s may not read %s", id.SPIFFEID(), clip(req.typeURL, maxLoggedID)))
}

// reasonDebugDenied counts debug requests of proven identities that may not
// read what they ask.
const reasonDebugDenied = "debug_denied"

// ownProxyDump reports whether req asks the config dump of one proxy of
// namespace ns.
func (s *Server) ownProxyDump(ns string, req request) bool {
	if req.typeURL != TypeDebugConfigDump || len(req.names) != 1 {
		return false
	}
	ps := s.debugProxy(req.names[0])
	return ps != nil && ps.proxy.Namespace == ns
}

func (s *Server) refuseDebug(st *streamState, reason string, code codes.Code, message string) error {
	s.metrics.authFailures.WithLabelValues(reason).Inc()
	s.logs.logAt(slog.LevelWarn, logKey{msg: "refusing debug xDS request", subject: reason},
		"reason", reason, "peer", peerString(st.peer), "error", clip(message, maxLoggedMessage))
	return status.Error(code, message)
}

// metadataString is the string field key of node's metadata; "" when
// absent.
func metadataString(node *corev3.Node, key string) string {
	return node.GetMetadata().GetFields()[key].GetStringValue()
}
