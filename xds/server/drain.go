package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/isthmus-mesh/isthmus/debounce"
)

// DefaultDrainDuration is how long Drain spreads the ending of streams
// over by default (isthmus serve --drain-duration).
const DefaultDrainDuration = 5 * time.Second

// drainGrace bounds how long Drain waits, after the period, for the
// streams it ended to close before it stops the server.
const drainGrace = time.Second

// drainingMessage ends the streams of a draining server, with Unavailable:
// Envoy connects again, which takes it to another replica.
const drainingMessage = "isthmus is draining: connect to another replica"

// errDrainingStatus ends the streams of a proxy being ended, and refuses
// new streams.
var errDrainingStatus = status.Error(codes.Unavailable, drainingMessage)

// Drain stops the server gracefully, as a replica going away should. At
// once, it reports not ready (/readyz), stops accepting connections, tells
// connected proxies not to open new streams on theirs (HTTP/2 GOAWAY) and
// refuses any new stream. Then it ends the open streams with Unavailable,
// one proxy after the other, spread evenly over period, so that the
// proxies do not all connect to the other replicas at the same moment
// (ctx ending cuts the period short: what is left is ended at once). It
// then waits for the streams to close, at most drainGrace, and stops as
// Stop does. Proxies keep being pushed changes until their stream ends.
// Drain logs its start and end and returns once the server is stopped.
// Stop, or a second Drain, cuts a drain short: the server stops at once.
func (s *Server) Drain(ctx context.Context, period time.Duration) {
	if !s.draining.CompareAndSwap(false, true) {
		s.Stop()
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)() // Stop ends the period
	start := time.Now()
	proxies := s.connectedProxies()
	s.log.Info("xDS drain started: refusing new connections, ending streams over the period",
		"proxies", len(proxies), "streams", s.openStreams(), "period", period)
	for _, g := range s.grpcServers() {
		go g.GracefulStop() // closes the listeners, sends GOAWAY
	}
	s.endProxies(ctx, proxies, period)
	s.endProxies(ctx, s.connectedProxies(), 0) // connected while the list above was ended
	left := s.waitNoStreams(drainGrace)
	s.Stop()
	s.log.Info("xDS drain finished", "duration", time.Since(start).Round(time.Millisecond), "streams_left", left)
}

// endProxies ends the streams of proxies one proxy after the other, evenly
// over period, the first at once; once ctx ends, the rest at once.
func (s *Server) endProxies(ctx context.Context, proxies []*proxyState, period time.Duration) {
	start := time.Now()
	for i, ps := range proxies {
		at := start.Add(period * time.Duration(i) / time.Duration(len(proxies)))
		sleep(ctx, time.Until(at))
		s.cache.end(ps.proxy.ID)
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// waitNoStreams waits until no stream is open, at most grace, and returns
// the number of streams still open.
func (s *Server) waitNoStreams(grace time.Duration) int {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for {
		n := s.openStreams()
		if n == 0 {
			return 0
		}
		select {
		case <-s.streamsGone:
		case <-deadline.C:
			return n
		}
	}
}

// openStreams is the number of open streams.
func (s *Server) openStreams() int {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	return len(s.streams)
}

// noteNoStreams wakes a Drain waiting for the last stream to end.
func (s *Server) noteNoStreams() {
	if s.draining.Load() {
		debounce.Signal(s.streamsGone)
	}
}
