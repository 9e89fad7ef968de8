package server

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// BenchmarkPush measures one push to 1,000 connected proxies of a mesh of
// 100 services, when translation shares resource objects between proxies
// (as the real translator does for proxies with the same scope) and when it
// builds fresh ones per proxy.
func BenchmarkPush(b *testing.B) {
	snap := world{version: 1, endpoints: []string{"10.1.0.1", "10.1.0.2"}}.snapshot()
	for _, shared := range []bool{true, false} {
		b.Run(fmt.Sprintf("shared=%t", shared), func(b *testing.B) {
			translateFn := meshTranslate
			if shared {
				translateFn = sharedTranslate(snap)
			}
			s := New(Options{Translate: translateFn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			defer s.Stop()
			for i := range 1000 {
				node := sidecarNode(b, fmt.Sprintf("app-%d", i))
				p, err := model.ParseNode(node)
				if err != nil {
					b.Fatal(err)
				}
				s.attach(p)
			}
			b.ResetTimer()
			for i := range b.N {
				next := *snap
				next.Version = uint64(i + 1)
				s.push(&next)
			}
		})
	}
}

// sharedTranslate translates snap once and gives every proxy the result.
func sharedTranslate(snap *model.Snapshot) TranslateFunc {
	res, err := meshTranslate(translate.NewIndex(snap), nil)
	if err != nil {
		panic(err)
	}
	return func(*translate.Index, *model.Proxy) (*translate.Resources, error) { return res, nil }
}
