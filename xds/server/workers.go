package server

import (
	"runtime"
	"sync"
)

// Translating a proxy and serving the result runs on a few long-lived
// worker goroutines, one per CPU, for a connecting proxy as for a push.
// On the stream's own goroutine, that work would grow the stack of each of
// thousands of stream goroutines (and keep it grown for the stream's
// life), and a connect storm would run thousands of translations at once,
// each holding its garbage; on the workers, connecting proxies are
// translated in the order they came, at most one per CPU at a time.

// startWorkers starts the workers; they end with s.ctx.
func (s *Server) startWorkers() {
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for {
				select {
				case f := <-s.work:
					f()
				case <-s.ctx.Done():
					return
				}
			}
		}()
	}
}

// onWorker runs f on a worker and waits for it to end; f is not run when
// the server stops first.
func (s *Server) onWorker(f func()) {
	done := make(chan struct{})
	select {
	case s.work <- func() { f(); close(done) }:
		<-done
	case <-s.ctx.Done():
	}
}

// refreshAll refreshes proxies on the workers and waits for them all.
func (s *Server) refreshAll(proxies []*proxyState, tr *snapshotTranslator, gen uint64, pt *pushTrace) {
	var wg sync.WaitGroup
	for _, ps := range proxies {
		wg.Add(1)
		select {
		case s.work <- func() { s.refresh(ps, tr, gen, pt); wg.Done() }:
		case <-s.ctx.Done():
			wg.Done()
		}
	}
	wg.Wait()
}
