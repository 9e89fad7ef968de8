package server

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Server serves connected proxies their resources over ADS. Create it with
// New, start it with Serve, feed it with Update, end it with Stop.
type Server struct {
	opts    Options
	log     *slog.Logger
	logs    *logLimiter // for what clients can make the server log again and again
	metrics *metrics
	cache   resourceCache
	prep    *preparer
	grpc    *grpc.Server
	grpcTLS *grpc.Server // of ServeTLS; nil without Options.TLS

	// ctx ends the debounce loop, the log limiter and every xDS stream.
	ctx      context.Context
	cancel   context.CancelFunc
	logsDone chan struct{} // closed when the log limiter has written all it held

	// latest is the most recent snapshot given to Update; updated wakes the
	// debounce loop.
	latest   atomic.Pointer[model.Snapshot]
	debounce debounceState // the Updates the next push carries, for its trace
	updated  chan struct{}
	loopDone chan struct{}

	mu      sync.Mutex
	proxies map[string]*proxyState // by node id
	// translator translates from the last pushed snapshot.
	translator *snapshotTranslator
	gen        uint64 // counts pushes; the generation of translator

	// deltaStreams and sotwStreams number the streams of each protocol
	// (see serveDelta, serveSotw); nameSets holds the names they
	// subscribe to.
	deltaStreams atomic.Int64
	sotwStreams  atomic.Int64
	nameSets     *nameSets

	streamsMu sync.Mutex
	streams   map[streamKey]*streamState // open streams
	// streamsGone is signalled when the last stream of a draining server
	// ends.
	streamsGone chan struct{}

	// work hands translations to the workers (see startWorkers).
	work chan func()

	trace    atomic.Pointer[pushTrace] // of the last push, with Options.Tracer
	pushed   atomic.Bool               // a snapshot has been pushed
	serving  atomic.Bool               // Serve is accepting connections
	draining atomic.Bool               // Drain has begun
	stopOnce sync.Once
}

// New creates a server and starts its debounce loop.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		logs:        newLogLimiter(opts.Logger, repeatLogInterval),
		metrics:     newMetrics(),
		cache:       newPreparedCache(),
		prep:        newPreparer(),
		nameSets:    newNameSets(),
		ctx:         ctx,
		cancel:      cancel,
		logsDone:    make(chan struct{}),
		updated:     make(chan struct{}, 1),
		loopDone:    make(chan struct{}),
		proxies:     map[string]*proxyState{},
		streams:     map[streamKey]*streamState{},
		streamsGone: make(chan struct{}, 1),
		work:        make(chan func()),
	}
	xds := xdsService{s: s}
	s.grpc = newGRPCServer(xds)
	s.grpcTLS = newTLSServer(xds, opts.TLS)
	if s.grpcTLS != nil {
		for _, register := range opts.TLSServices {
			register(s.grpcTLS)
		}
	}
	s.startWorkers()
	go s.debounceLoop()
	go func() {
		defer close(s.logsDone)
		s.logs.run(ctx)
	}()
	return s
}

// Per-connection settings of the gRPC server, sized for thousands of
// long-lived connections that each carry one xDS stream.
const (
	// connBufferSize is what a connection reads into (gRPC's default is
	// 32 KiB), taken from a pool for the time of a read only; requests are
	// a few KiB at most. ServeTLS's connections read without one (see
	// newTLSServer).
	connBufferSize = 8 << 10
	// connWriteBufferSize is what a connection batches its writes in, taken
	// from a pool for the time of a write: a system call per buffer. A
	// 2,000-sidecar unscoped mesh must receive 9.4 GiB: with 8 KiB, writing
	// it cost 29.6 CPU-s, with 64 KiB 24.6; but thousands of connections
	// writing at once each hold one, and 64 KiB raised a 5,000-sidecar
	// scoped storm's peak by ~30 MiB. 32 KiB is gRPC's default.
	connWriteBufferSize = 32 << 10
	// headerTableSize is the HPACK dynamic table size the server lets
	// clients use for the headers they send it: none, since a connection
	// sends its headers once per stream and its streams live long, and a
	// table costs each connection up to 4 KiB.
	headerTableSize = 0
	// receiveWindow is the HTTP/2 window, per stream and per connection,
	// for the requests proxies send: fixed, so that gRPC does not probe
	// each connection's bandwidth with a ping as its requests arrive (a
	// write and a read per connection in a connect storm). Requests are a
	// few KiB and read at once, so the window is never what they wait on.
	receiveWindow = 1 << 20
)

// newGRPCServer registers ADS and the per-type discovery services; each
// serves state of the world and delta. Responses are written by xdsCodec,
// without copying their large resources. The windows for what proxies
// send are fixed (receiveWindow), requests are read up to maxRequestBytes,
// and write buffers are shared between connections, as is gRPC's default.
func newGRPCServer(xds xdsService, extra ...grpc.ServerOption) *grpc.Server {
	g := grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRequestBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ForceServerCodecV2(newXDSCodec()),
		grpc.WriteBufferSize(connWriteBufferSize),
		grpc.ReadBufferSize(connBufferSize),
		grpc.HeaderTableSize(headerTableSize),
		grpc.InitialWindowSize(receiveWindow),
		grpc.InitialConnWindowSize(receiveWindow),
	}, extra...)...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, xds)
	secretservice.RegisterSecretDiscoveryServiceServer(g, xds)
	return g
}

// Serve accepts xDS connections on lis until Stop. It returns nil after a
// graceful stop.
func (s *Server) Serve(lis net.Listener) error {
	s.serving.Store(true)
	defer s.serving.Store(false)
	return s.grpc.Serve(lis)
}

// Update hands the server a new snapshot. It returns at once; the snapshot
// is pushed after the debounce. snap must not be modified afterwards.
func (s *Server) Update(snap *model.Snapshot) {
	if snap == nil {
		return
	}
	s.latest.Store(snap)
	s.debounce.noteUpdate(snap.ChangedAt)
	debounce.Signal(s.updated)
}

// RegisterMetrics adds collectors to the metrics the server exposes on
// /metrics (the Kubernetes clusters' health, say).
func (s *Server) RegisterMetrics(cs ...prometheus.Collector) { s.metrics.registry.MustRegister(cs...) }

// SetConfigErrors records how many problems the last configuration load had.
func (s *Server) SetConfigErrors(n int) { s.metrics.configErrors.Set(float64(n)) }

// Ready reports whether a snapshot has been pushed and gRPC is serving,
// and the server is not draining.
func (s *Server) Ready() bool { return s.pushed.Load() && s.serving.Load() && !s.draining.Load() }

// Stop ends every xDS stream at once, stops pushing and stops the gRPC
// server, waiting a bounded time for handlers to return. Drain is the
// graceful way.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		stopped := make(chan struct{})
		go func() {
			for _, g := range s.grpcServers() {
				g.GracefulStop() // refuses new streams; waits for open ones
			}
			close(stopped)
		}()
		s.cancel() // ends open streams, the debounce loop and the log limiter
		<-s.loopDone
		<-s.logsDone
		select {
		case <-stopped:
		case <-time.After(stopTimeout):
			for _, g := range s.grpcServers() {
				g.Stop()
			}
		}
	})
}
