package server

import (
	"errors"
	"fmt"
	"slices"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.opentelemetry.io/otel/attribute"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// debounceLoop pushes the latest snapshot once Updates have been quiet for
// Debounce, or once DebounceMax has passed since the first unpushed Update.
// Pushes run one at a time, on this goroutine.
func (s *Server) debounceLoop() {
	defer close(s.loopDone)
	debounce.Loop(s.ctx, s.updated, s.opts.Debounce, s.opts.DebounceMax, func() { s.push(s.latest.Load()) })
}

// push translates snap for every connected proxy and sets the results.
func (s *Server) push(snap *model.Snapshot) {
	start := time.Now()
	pt := s.startPushTrace(start)
	idx, err := newIndexSafely(snap)
	if err != nil {
		s.log.Error("snapshot not pushed: index failed; proxies keep their resources",
			"snapshot", snap.Version, "error", err)
		s.metrics.translateErrors.WithLabelValues(reasonTranslate).Inc()
		return
	}
	tr := s.newSnapshotTranslator(idx)
	s.mu.Lock()
	prev := s.translator
	s.mu.Unlock()
	kept := tr.inheritFrom(prev)
	pt.since(spanIndex, start)
	s.mu.Lock()
	s.translator = tr
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	proxies := s.connectedProxies()
	s.refreshAll(proxies, tr, gen, pt)
	s.retainSecrets(s.connectedProxies())
	s.prep.rotate()
	s.metrics.pushDuration.Observe(time.Since(start).Seconds())
	if views := tr.views(); views >= 0 {
		reassembled := tr.reassembled()
		s.metrics.views.WithLabelValues("kept").Add(float64(kept))
		s.metrics.views.WithLabelValues("reassembled").Add(float64(reassembled))
		s.metrics.views.WithLabelValues("built").Add(float64(views - kept - reassembled))
	}
	s.metrics.snapshotVersion.Set(float64(snap.Version))
	s.pushed.Store(true)
	pt.pushed(attribute.Int64("snapshot.version", int64(snap.Version)), attribute.Int("proxies", len(proxies)),
		attrViewsBuilt.Int(max(tr.views()-kept, 0)), attrViewsKept.Int(kept))
	s.log.Debug("pushed snapshot", "snapshot", snap.Version, "duration", time.Since(start), "proxies", len(proxies),
		"views", tr.views(), "kept", kept)
}

// Resync pushes the latest snapshot again, after the debounce, for changes
// the snapshot does not carry, such as renewed certificates.
func (s *Server) Resync() {
	if snap := s.latest.Load(); snap != nil {
		s.Update(snap)
	}
}

// secretRetainer is a SecretSource that can forget the secrets of proxies
// no longer connected.
type secretRetainer interface {
	Retain(proxies []*model.Proxy)
}

func (s *Server) retainSecrets(proxies []*proxyState) {
	r, ok := s.opts.Secrets.(secretRetainer)
	if !ok {
		return
	}
	list := make([]*model.Proxy, len(proxies))
	for i, ps := range proxies {
		list[i] = ps.proxy
	}
	r.Retain(list)
}

// refresh translates ps with tr (generation gen) and serves the result,
// recording its phases in pt (nil outside a traced push).
// An older generation than the proxy's last is ignored. On any failure the
// proxy keeps what it is served.
func (s *Server) refresh(ps *proxyState, tr *snapshotTranslator, gen uint64, pt *pushTrace) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed || gen <= ps.gen {
		return
	}
	ps.gen = gen
	next, err := s.build(tr, ps, pt)
	if err != nil {
		s.refreshFailed(ps, tr.idx, err)
		return
	}
	if next == ps.served {
		return
	}
	changed := changedTypes(ps.served, next)
	// Marked before the cache sends them, so that a fast acknowledgement
	// finds the versions it acknowledges waiting.
	ps.markSet(changed, next, time.Now(), pt)
	// Unchanged resources are set too (nothing is sent for them), so that
	// the previous translation is not kept alive.
	if err := s.cache.set(s.ctx, ps.proxy.ID, next); err != nil {
		s.refreshFailed(ps, tr.idx, err)
		return
	}
	ps.served = next
	if missing := next.missingCredentials(); len(missing) > 0 && slices.Contains(changed, resource.ListenerType) {
		s.log.Warn("gateway credentials not found; listeners using them wait for them", "proxy", clipID(ps.proxy.ID),
			"secrets", missing)
	}
	for _, t := range changed {
		s.metrics.pushes.WithLabelValues(typeLabel(t)).Inc()
	}
}

// build translates ps's proxy and prepares the result for the cache,
// reusing what it is served now (ps.served) where unchanged.
func (s *Server) build(tr *snapshotTranslator, ps *proxyState, pt *pushTrace) (*proxyResources, error) {
	started := time.Now()
	res, err := translateSafely(tr, ps.proxy)
	pt.since(spanTranslate, started)
	if err != nil {
		return nil, err
	}
	key, secrets, err := s.secretsOf(ps)
	if err != nil {
		return nil, err
	}
	return tr.prepare(preparedKey{res, key}, func() (*proxyResources, error) {
		defer pt.since(spanPrepare, time.Now())
		rt, err := tr.resourceTypes(res, func() (*resourceTypes, error) {
			return prepareResourceTypes(res, ps.served, s.prep, tr.validates())
		})
		if err != nil {
			return nil, err
		}
		return withProxySecrets(rt, res, secrets, ps.served, s.prep, s.keyless(ps))
	})
}

// secretsOf returns the secrets ps's proxy may reference, and their key:
// without a private key when the proxy must get none (see keyless).
func (s *Server) secretsOf(ps *proxyState) (string, []*tlsv3.Secret, error) {
	if s.opts.Secrets == nil {
		return "", nil, nil
	}
	key, secrets, err := s.opts.Secrets.Secrets(ps.proxy)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", errSecrets, err)
	}
	if s.keyless(ps) {
		return key + "#keyless", withoutKeys(secrets), nil
	}
	return key, secrets, nil
}

func (s *Server) refreshFailed(ps *proxyState, idx *translate.Index, err error) {
	reason := failureReason(err)
	s.metrics.translateErrors.WithLabelValues(reason).Inc()
	s.log.Error("proxy keeps its previous resources", "proxy", clipID(ps.proxy.ID),
		"snapshot", idx.Snapshot.Version, "reason", reason, "error", clipError(err))
}

func failureReason(err error) string {
	switch {
	case errors.Is(err, errInvalid):
		return reasonInvalid
	case errors.Is(err, errInconsistent):
		return reasonInconsistent
	case errors.Is(err, errTranslate):
		return reasonTranslate
	case errors.Is(err, errSecrets):
		return reasonSecrets
	}
	return reasonCache
}

var (
	errTranslate = errors.New("translation failed")
	errSecrets   = errors.New("secrets unavailable")
)

// translateSafely runs the translation, turning a panic into an error so
// one bad proxy or object cannot stop the server.
func translateSafely(tr *snapshotTranslator, p *model.Proxy) (res *translate.Resources, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic: %v", errTranslate, r)
		}
	}()
	res, err = tr.translate(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTranslate, err)
	}
	if res == nil {
		return nil, fmt.Errorf("%w: no resources", errTranslate)
	}
	return res, nil
}

func newIndexSafely(snap *model.Snapshot) (idx *translate.Index, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return translate.NewIndex(snap), nil
}
