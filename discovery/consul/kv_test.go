package consul

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	networking "istio.io/api/networking/v1alpha3"
)

const kvVirtualService = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.service.consul]
  http:
  - route:
    - {destination: {host: web.service.consul, subset: v1}, weight: %WEIGHT%}
    - {destination: {host: web.service.consul, subset: v2}, weight: %REST%}
`

func virtualServiceYAML(v1, v2 string) []byte {
	return []byte(strings.NewReplacer("%WEIGHT%", v1, "%REST%", v2).Replace(kvVirtualService))
}

func runKVSource(t *testing.T, addr string, logs *logBuffer) *KVSource {
	t.Helper()
	s, err := NewKVSource(KVOptions{Address: addr, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// weightOf is the first route weight of the web VirtualService the
// source defines, -1 when it defines none or an invalid one.
func weightOf(s *KVSource) int32 {
	defs, _ := s.Definitions()
	for _, d := range defs {
		if d.Key.Name == "web" && d.Object != nil {
			return d.Object.Spec.(*networking.VirtualService).GetHttp()[0].GetRoute()[0].GetWeight()
		}
	}
	return -1
}

// Istio YAML under the prefix is served and follows edits; an invalid
// edit is a problem naming the key, its object undefined; a deleted key
// drops its objects; with Consul stopped the last definitions stay.
func TestKVSourceFollowsThePrefix(t *testing.T) {
	c := startConsul(t)
	kv := c.client.KV()
	put := func(key string, value []byte) {
		t.Helper()
		if _, err := kv.Put(&api.KVPair{Key: DefaultKVPrefix + key, Value: value}, nil); err != nil {
			t.Fatal(err)
		}
	}
	put("web.yaml", virtualServiceYAML("80", "20"))
	var logs logBuffer
	s := runKVSource(t, c.agent.Addr, &logs)
	waitFor(t, "the VirtualService from the KV prefix", func() bool { return s.Synced() && weightOf(s) == 80 })

	put("web.yaml", virtualServiceYAML("60", "40"))
	waitFor(t, "the edited weight", func() bool { return weightOf(s) == 60 })

	put("web.yaml", virtualServiceYAML("60", "70"))
	waitFor(t, "the invalid edit reported", func() bool {
		_, problems := s.Definitions()
		return len(problems) > 0 && weightOf(s) == -1
	})
	_, problems := s.Definitions()
	if msg := problems[0].Error(); !strings.Contains(msg, "consul:"+DefaultKVPrefix+"web.yaml") {
		t.Errorf("problem %q does not name the key", msg)
	}

	put("other.yaml", virtualServiceYAML("100", "0"))
	waitFor(t, "another key's definitions", func() bool { defs, _ := s.Definitions(); return len(defs) == 2 })
	if _, err := kv.Delete(DefaultKVPrefix+"other.yaml", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted key's definitions gone", func() bool { defs, _ := s.Definitions(); return len(defs) == 1 })

	put("web.yaml", virtualServiceYAML("50", "50"))
	waitFor(t, "the fixed weight", func() bool { return weightOf(s) == 50 })
	c.agent.Stop()
	waitFor(t, "the outage logged", func() bool { return len(logs.lines("consul kv unreachable")) == 1 })
	if weightOf(s) != 50 {
		t.Error("the definitions changed while Consul was down")
	}
}
