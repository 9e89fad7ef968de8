package server

import (
	"context"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// streamBase is what a stream of either protocol (sotwStream, deltaStream)
// keeps of itself: its registration, its proxy's cache state once known,
// and the channel the cache wakes it on. Touched only by the stream's
// goroutine.
type streamBase struct {
	s         *Server
	key       streamKey
	fixedType string // "" for ADS
	nodeID    string
	node      *nodeState // the cache's state of its proxy, once attached
	wake      chan struct{}
	nonce     int64
}

// openStream registers a new stream of either protocol.
func (s *Server) openStream(ctx context.Context, delta bool, fixedType string) (streamBase, error) {
	counter := &s.sotwStreams
	if delta {
		counter = &s.deltaStreams
	}
	key := streamKey{delta: delta, id: counter.Add(1)}
	if err := s.onOpen(ctx, key); err != nil {
		return streamBase{}, err
	}
	return streamBase{s: s, key: key, fixedType: fixedType, wake: make(chan struct{}, 1)}, nil
}

// close forgets the stream.
func (b *streamBase) close() {
	if b.node != nil {
		b.node.unwatch(b.wake)
	}
	b.s.onClosed(b.key)
}

// typeOf is the type a request is of, noting the node id of the first
// request that names it: the type URL the request carries, else the
// service's (ADS requires one).
func (b *streamBase) typeOf(node *corev3.Node, typeURL string) (string, error) {
	if node != nil && b.nodeID == "" {
		b.nodeID = node.GetId()
	}
	if typeURL == "" {
		typeURL = b.fixedType
	}
	if typeURL == "" {
		return "", status.Error(codes.InvalidArgument, "type URL is required for ADS")
	}
	return typeURL, nil
}

// read takes a request of either protocol: the type it is of (see
// typeOf), and what the server reads of it (Server.onRequest: the node of
// the first, an acknowledgement or a rejection). An error ends the stream.
func (b *streamBase) read(r request) (string, error) {
	typeURL, err := b.typeOf(r.node, r.typeURL)
	if err != nil {
		return "", err
	}
	r.typeURL = typeURL
	return typeURL, b.s.onRequest(b.key, r)
}

// attach registers the stream with its proxy's cache state, to be woken
// when the proxy's resources change, once its node is known.
func (b *streamBase) attach() {
	if b.node == nil && b.nodeID != "" {
		b.node = b.s.cache.watch(b.nodeID, b.wake)
	}
}

// nextNonce numbers the stream's next response.
func (b *streamBase) nextNonce() string {
	b.nonce++
	return strconv.FormatInt(b.nonce, 10)
}

// served is what the stream's proxy is served, when a response may be
// owed: nil before the stream's node is known or the proxy's first
// resources are set. A proxy being ended (Drain) ends the stream.
func (b *streamBase) served() (*proxyResources, error) {
	if b.node == nil {
		return nil, nil
	}
	served, ending := b.node.current()
	if ending {
		return nil, errDrainingStatus
	}
	return served, nil
}

// noteHeld records, once per type, that a proxy that reconnected holding
// the version of held it is served holds it (see Server.noteHeld).
func (b *streamBase) noteHeld(held *deltaType, typeURL, version string) {
	if !held.noted {
		held.noted = true
		b.s.noteHeld(b.key, typeURL, version)
	}
}

// protocolStream is what runStream needs of a stream.
type protocolStream[Req any] interface {
	handle(Req) error
	// answer sends typeURL's response if a request waits for one and the
	// proxy's resources owe the stream something.
	answer(typeURL string) error
	base() *streamBase
}

// runStream serves a stream until it ends: each request is handled as it
// comes, and each wake of the cache answers what the proxy's resources
// owe the stream now.
func runStream[Req any](st protocolStream[Req], ctx context.Context, recv func() (Req, error)) error {
	b := st.base()
	defer b.close()
	requests := receive(ctx, b.s.ctx, recv)
	for {
		select {
		case <-b.s.ctx.Done():
			return nil
		case req, ok := <-requests:
			if !ok {
				return nil
			}
			if err := st.handle(req); err != nil {
				return err
			}
		case <-b.wake:
			if err := answerAll(st); err != nil {
				return err
			}
		}
	}
}

// answerAll answers, in ADS order, each type that waits for a response.
func answerAll[Req any](st protocolStream[Req]) error {
	for _, typeURL := range servedTypes {
		if err := st.answer(typeURL); err != nil {
			return err
		}
	}
	return nil
}

// requestsAhead is how many requests a stream reads ahead of the one it
// handles. While a stream writes a large response to a slow proxy, the
// proxy's next requests (an acknowledgement, a request naming 4,000 load
// assignments) would wait in gRPC's buffers as they came, a whole request
// per stream in a connect storm; read, most are a few pointers (see
// sotwRequest, deltaRequest).
const requestsAhead = 4

// receive reads a stream's requests with recv into the returned channel,
// closed when the stream (streamCtx) or the server (serverCtx) ends.
func receive[T any](streamCtx, serverCtx context.Context, recv func() (T, error)) <-chan T {
	out := make(chan T, requestsAhead)
	go func() {
		defer close(out)
		for {
			req, err := recv()
			if err != nil {
				return
			}
			select {
			case out <- req:
			case <-streamCtx.Done():
				return
			case <-serverCtx.Done():
				return
			}
		}
	}()
	return out
}

// resendDependents has the load assignments of the clusters in changed
// sent again at the next EDS answer (see deltaType.resend); eds is the
// stream's EDS state, nil when it has none yet.
func resendDependents(eds *deltaType, changed []*preparedResource) {
	if eds == nil {
		return
	}
	for _, c := range changed {
		for _, name := range c.refs {
			eds.resend(name)
		}
	}
}
