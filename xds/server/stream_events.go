package server

import (
	"context"
	"log/slog"
	"net"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// streamKey identifies a stream: the server numbers state-of-the-world and
// delta streams separately (see openStream).
type streamKey struct {
	delta bool
	id    int64
}

// streamState is what the server tracks of one stream, from its opening.
// Its fields are used only from the stream's own goroutine.
type streamState struct {
	ctx   context.Context         // the stream's, for authentication
	tls   bool                    // the stream came through ServeTLS
	peer  net.Addr                // the client's address; nil when unknown
	proxy *proxyState             // nil until the stream's first request
	sent  map[string]sentResponse // type URL → last response sent
}

// sentResponse is the nonce and version of a response, to recognise the
// request that acknowledges or rejects it.
type sentResponse struct {
	nonce   string
	version string
}

// request is what the server reads from either kind of discovery request.
type request struct {
	node        *corev3.Node
	typeURL     string
	names       []string
	nonce       string
	errorDetail *rpcstatus.Status
}

// onOpen registers a new stream; while the server drains, it refuses it
// instead.
func (s *Server) onOpen(ctx context.Context, key streamKey) error {
	if s.draining.Load() {
		return errDrainingStatus
	}
	st := &streamState{ctx: ctx, sent: map[string]sentResponse{}}
	if p, ok := peer.FromContext(ctx); ok {
		st.peer = p.Addr
		_, st.tls = p.AuthInfo.(credentials.TLSInfo)
	}
	s.streamsMu.Lock()
	s.streams[key] = st
	s.streamsMu.Unlock()
	return nil
}

// onRequest attaches the stream to its proxy on its first request (but for
// a request of a debug type, which attaches nothing: see authorizeDebug), then
// reads the request as an acknowledgement or a rejection of the last
// response of its type. An error ends the stream: a node the codec refused
// (see checkNode) or that does not parse ends it with InvalidArgument.
func (s *Server) onRequest(key streamKey, req request) error {
	st := s.streamState(key)
	if st == nil {
		return status.Error(codes.Internal, "isthmus: stream not registered")
	}
	if l := refusedNodeLimit(req.node); l != nil {
		return s.refuseNode(st, l.reason, l.refusal())
	}
	if isDebugType(req.typeURL) {
		return s.authorizeDebug(st, req)
	}
	if st.proxy == nil {
		if err := s.attachStream(st, req.node); err != nil {
			return err
		}
	}
	if req.errorDetail != nil {
		s.recordNACK(st, req)
		return nil
	}
	sent, ok := st.sent[req.typeURL]
	if ok && req.nonce != "" && req.nonce == sent.nonce {
		s.recordACK(st.proxy, req.typeURL, sent.version)
	}
	return nil
}

// streamState returns the state of stream key; nil when it is not open.
func (s *Server) streamState(key streamKey) *streamState {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	return s.streams[key]
}

// attachStream attaches st to the proxy node describes, on the stream's
// first request.
func (s *Server) attachStream(st *streamState, node *corev3.Node) error {
	if s.draining.Load() {
		return errDrainingStatus
	}
	p, err := model.ParseNode(node)
	if err != nil {
		return s.refuseNode(st, reasonInvalidNode, "isthmus: "+clipError(err))
	}
	proven, err := s.authenticate(st, p)
	if err != nil {
		return err
	}
	ps, err := s.attachProven(p, proven)
	if err != nil {
		return err
	}
	st.proxy = ps
	return nil
}

// refuseNode counts and logs (at most once per repeatLogInterval for each
// reason) a stream refused for its node, and returns the error that ends
// it.
func (s *Server) refuseNode(st *streamState, reason, message string) error {
	s.metrics.rejectedNodes.WithLabelValues(reason).Inc()
	s.logs.logAt(slog.LevelWarn, logKey{msg: "refusing xDS stream: bad node", subject: reason},
		"reason", reason, "peer", peerString(st.peer), "error", message)
	return status.Error(codes.InvalidArgument, message)
}

// peerString is addr as a string; "" for nil.
func peerString(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	return addr.String()
}

func (s *Server) onResponse(key streamKey, typeURL string, sent sentResponse) {
	st := s.streamState(key)
	if st == nil {
		return
	}
	st.sent[typeURL] = sent
	if st.proxy != nil && !isDebugType(typeURL) {
		st.proxy.markSent(typeURL, sent.version)
	}
}

// noteHeld records that the proxy of stream key holds version of typeURL
// though the stream was not sent it: it reconnected holding the version
// it is served. Its status then shows the version acknowledged.
func (s *Server) noteHeld(key streamKey, typeURL, version string) {
	st := s.streamState(key)
	if st == nil || st.proxy == nil {
		return
	}
	st.proxy.markSent(typeURL, version)
	s.recordACK(st.proxy, typeURL, version)
}

func (s *Server) onClosed(key streamKey) {
	s.streamsMu.Lock()
	st := s.streams[key]
	delete(s.streams, key)
	left := len(s.streams)
	s.streamsMu.Unlock()
	if st != nil && st.proxy != nil {
		s.detach(st.proxy)
	}
	if left == 0 {
		s.noteNoStreams()
	}
}

// recordNACK counts a rejection, keeps its message for /debug/proxies and
// logs it; a proxy's rejections of one type are logged at most once per
// repeatLogInterval, however often it repeats them. Rejections of a type
// the server does not serve are counted and logged as type "other".
func (s *Server) recordNACK(st *streamState, req request) {
	msg := clip(req.errorDetail.GetMessage(), maxLoggedMessage)
	label, served := typeLabels[req.typeURL]
	if !served {
		label = otherType
	}
	s.metrics.nacks.WithLabelValues(label).Inc()
	if served {
		st.proxy.markNacked(req.typeURL, msg)
	}
	s.logs.logAt(slog.LevelWarn, logKey{msg: "proxy rejected configuration", subject: st.proxy.proxy.ID, detail: label},
		"proxy", clipID(st.proxy.proxy.ID), "type", clip(req.typeURL, maxLoggedID),
		"version", st.sent[req.typeURL].version, "message", msg)
}

// otherType labels the rejections of types the server does not serve: the
// type URL is the client's to choose, and each label value is a series
// Prometheus keeps.
const otherType = "other"

func (s *Server) recordACK(ps *proxyState, typeURL, version string) {
	if d, ok := ps.markAcked(typeURL, version); ok {
		s.metrics.ackLatency.WithLabelValues(typeLabel(typeURL)).Observe(d.Seconds())
	}
}
