package consul

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/policy"
)

// DefaultKVPrefix is where KVSource reads Istio YAML by default.
const DefaultKVPrefix = "isthmus/config/"

// KVOptions configure a KVSource. Address is required.
type KVOptions struct {
	// Address, Token and TokenFile reach the agent, as for Options.
	Address, Token, TokenFile string
	// Prefix is the KV prefix whose keys hold Istio YAML; DefaultKVPrefix
	// when empty.
	Prefix string
	// Limits bound each value and document, as for files.
	Limits policy.Limits
	// Logger receives the source's logs; slog.Default() when nil.
	Logger *slog.Logger
	// WaitTime bounds each blocking query; DefaultWaitTime when zero.
	WaitTime time.Duration
}

// KVSource is the Istio YAML stored under a Consul KV prefix as a
// policy.ConfigSource: each key one file. It is safe for concurrent use.
type KVSource struct {
	opts    KVOptions
	client  *api.Client
	changes chan struct{}
	synced  atomic.Bool

	mu       sync.Mutex
	keys     map[string]kvVersion // by key
	defs     []policy.Definition
	problems []*policy.ConfigError
}

// kvVersion is the decoded version of one key.
type kvVersion struct {
	modifyIndex uint64
	defs        []policy.Definition
	problems    []*policy.ConfigError
}

var _ policy.ConfigSource = (*KVSource)(nil)

// NewKVSource returns the source of opts.Prefix; nothing is read until Run.
func NewKVSource(opts KVOptions) (*KVSource, error) {
	if opts.Address == "" {
		return nil, errors.New("consul kv source: KVOptions.Address is required")
	}
	opts.Prefix = cmp.Or(opts.Prefix, DefaultKVPrefix)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WaitTime <= 0 {
		opts.WaitTime = DefaultWaitTime
	}
	client, err := newClient(opts.Address, opts.Token, opts.TokenFile)
	if err != nil {
		return nil, err
	}
	return &KVSource{opts: opts, client: client, changes: make(chan struct{}, 1), keys: map[string]kvVersion{}}, nil
}

// Name is "consul kv ADDRESS/PREFIX".
func (s *KVSource) Name() string { return "consul kv " + s.opts.Address + "/" + s.opts.Prefix }

// Changes receives a value after Definitions changed. Sends coalesce.
func (s *KVSource) Changes() <-chan struct{} { return s.changes }

// Synced reports whether the prefix has been read once.
func (s *KVSource) Synced() bool { return s.synced.Load() }

// Definitions are every key's definitions, keys in order, and their
// problems. The slices must not be modified.
func (s *KVSource) Definitions() ([]policy.Definition, []*policy.ConfigError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defs, s.problems
}

// Run follows the prefix with blocking queries until ctx ends. While Consul
// is unreachable the last definitions stay (one WARN line per outage).
func (s *KVSource) Run(ctx context.Context) {
	retry := newRetry(250*time.Millisecond, 5*time.Second)
	var index uint64
	failing := false
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, s.opts.WaitTime+s.opts.WaitTime/16+answerTimeout)
		pairs, meta, err := s.client.KV().List(s.opts.Prefix, (&api.QueryOptions{WaitIndex: index, WaitTime: s.opts.WaitTime}).WithContext(qctx))
		cancel()
		if err != nil {
			if !failing && ctx.Err() == nil {
				s.opts.Logger.Warn("consul kv unreachable; serving its last configuration", "source", s.Name(), "error", err)
			}
			failing = true
			retry.wait(ctx)
			continue
		}
		if failing {
			s.opts.Logger.Warn("consul kv reachable again", "source", s.Name())
		}
		failing = false
		retry.reset()
		index = nextIndex(index, meta.LastIndex)
		s.update(pairs)
	}
}

// update decodes the keys that changed and, if any did (or this is the
// first answer), publishes the definitions.
func (s *KVSource) update(pairs api.KVPairs) {
	s.mu.Lock()
	next := make(map[string]kvVersion, len(pairs))
	changed := false
	for _, p := range pairs {
		if strings.HasSuffix(p.Key, "/") { // a folder
			continue
		}
		prev, ok := s.keys[p.Key]
		if ok && prev.modifyIndex == p.ModifyIndex {
			next[p.Key] = prev
			continue
		}
		next[p.Key] = s.decode(p, prev)
		changed = true
	}
	changed = changed || len(next) != len(s.keys)
	if changed || !s.synced.Load() {
		s.keys = next
		s.defs, s.problems = s.collect()
	}
	s.mu.Unlock()
	s.synced.Store(true)
	if changed {
		debounce.Signal(s.changes)
	}
}

// decode is a key's new version; one whose documents cannot all be
// identified keeps the definitions of prev, with the new problems.
func (s *KVSource) decode(p *api.KVPair, prev kvVersion) kvVersion {
	defs, problems, complete := policy.DecodeDefinitions("consul:"+p.Key, p.Value, s.opts.Limits)
	if !complete {
		defs = prev.defs
	}
	return kvVersion{modifyIndex: p.ModifyIndex, defs: defs, problems: problems}
}

// collect joins every key's definitions and problems, keys in order.
func (s *KVSource) collect() ([]policy.Definition, []*policy.ConfigError) {
	var defs []policy.Definition
	var problems []*policy.ConfigError
	for _, k := range slices.Sorted(maps.Keys(s.keys)) {
		defs = append(defs, s.keys[k].defs...)
		problems = append(problems, s.keys[k].problems...)
	}
	return defs, problems
}
