package kubebench

import (
	"context"
	"fmt"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

// editVirtualServices makes opts.VSEdits edits of VirtualService custom
// resources in the config cluster, one every opts.VSInterval: edit e gives
// service e mod M (each in turn, so consecutive edits fall in different
// namespaces) a new v1/v2 split. A sidecar with a virtual host for the
// service has the edit when its RDS shows the new v1 weight.
func (b *bench) editVirtualServices(ctx context.Context) (xdsload.ScenarioResult, Writes) {
	ph := b.fleet.StartPhase(PhaseVirtualServiceEdit)
	rate := float64(time.Second) / float64(b.opts.VSInterval)
	log := newWriteLog(rate)
	config := b.clusters[0]
	routes := map[int]*meshgen.Service{}
	for e := 0; e < b.opts.VSEdits && ctx.Err() == nil; e++ {
		at := log.start.Add(time.Duration(e) * b.opts.VSInterval)
		waitUntil(ctx, at)
		log.late(time.Since(at))
		i := e % b.spec.Services
		svc, ok := routes[i]
		if !ok {
			svc = b.spec.Service(i)
			routes[i] = svc
		}
		v1 := editWeight(e, svc.Weights[0])
		svc.SetWeights(v1, 100-v1)
		want := uint32(v1)
		det := xdsload.DetectRouteWeight(svc.Host, xdsload.OutboundCluster(svc.Port, meshgen.SubsetName(0), svc.Host),
			func(w uint32) bool { return w == want })
		change := ph.Track(fmt.Sprintf("%s: VirtualService v1 weight %d", svc.Host, v1), det)
		start := time.Now()
		// The DestinationRule is unchanged (read, not written); the
		// VirtualService is the last object, so the call returns with its
		// update.
		err := config.km.ApplyIstioYAML(ctx, svc.YAML())
		took := time.Since(start)
		change.MarkApplied()
		log.done(took, err)
	}
	return ph.Finish(ctx, b.opts.SettleTimeout), log.result()
}

// editWeight is edit e's v1 weight: between 21 and 79 (never the
// generated 80), and never the weight the service has now, so every edit
// is a change.
func editWeight(e, now int) int {
	w := 21 + e%59
	if w == now {
		w = 21 + (e+1)%59
	}
	return w
}
