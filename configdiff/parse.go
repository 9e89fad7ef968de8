package configdiff

import (
	"encoding/json"
	"fmt"
	"strings"
)

// section says where one kind of resource sits in a config section.
type section struct {
	kind     string
	list     string     // the field listing the resources
	paths    [][]string // where the resource is in an entry, first found wins
	nameAttr string     // the resource's name field
}

// sections are the config dump sections compared, by the suffix of their
// "@type".
var sections = map[string]section{
	"ListenersConfigDump": {"listener", "dynamic_listeners",
		[][]string{{"active_state", "listener"}, {"warming_state", "listener"}}, "name"},
	"RoutesConfigDump":    {"route", "dynamic_route_configs", [][]string{{"route_config"}}, "name"},
	"ClustersConfigDump":  {"cluster", "dynamic_active_clusters", [][]string{{"cluster"}}, "name"},
	"EndpointsConfigDump": {"endpoint", "dynamic_endpoint_configs", [][]string{{"endpoint_config"}}, "cluster_name"},
}

// Parse reads the comparable resources of a config dump (JSON with the
// proto field names, as Envoy writes it).
func Parse(dump []byte) (Resources, error) {
	var d struct {
		Configs []map[string]any `json:"configs"`
	}
	if err := json.Unmarshal(dump, &d); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	out := Resources{}
	for _, cfg := range d.Configs {
		if cfg == nil {
			continue
		}
		typ, _ := cfg["@type"].(string)
		sec, ok := sections[typ[strings.LastIndex(typ, ".")+1:]]
		if !ok {
			continue
		}
		if err := sec.collect(cfg, out); err != nil {
			return nil, err
		}
	}
	dropNonEDSEndpoints(out, clusterTypes(d.Configs))
	return out, nil
}

func (sec section) collect(cfg map[string]any, out Resources) error {
	entries, _ := cfg[sec.list].([]any)
	if sec.kind == "cluster" {
		warming, _ := cfg["dynamic_warming_clusters"].([]any)
		entries = append(entries, warming...)
	}
	for _, e := range entries {
		res := sec.resource(e)
		if res == nil {
			continue
		}
		name, _ := res[sec.nameAttr].(string)
		if sec.kind == "endpoint" {
			res = envoyEndpointDefaults(res)
		}
		body, err := render(res)
		if err != nil {
			return fmt.Errorf("%s %s: %w", sec.kind, name, err)
		}
		out[Key{sec.kind, name}] = body
	}
	return nil
}

// resource finds the resource of one entry of a section.
func (sec section) resource(entry any) map[string]any {
	for _, path := range sec.paths {
		v := entry
		for _, field := range path {
			m, _ := v.(map[string]any)
			v = m[field]
		}
		if m, ok := v.(map[string]any); ok {
			return m
		}
	}
	return nil
}

// render is res as indented JSON, keys sorted, ignored fields left out.
func render(res map[string]any) (string, error) {
	b, err := json.MarshalIndent(strip(res), "", "  ")
	return string(b), err
}

// strip removes IgnoredFields from v, recursively, and the objects and
// lists left empty (what proto3 JSON leaves out as defaults, Envoy writes).
func strip(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if IgnoredFields[k] {
				continue
			}
			if x = strip(x); !isEmpty(x) {
				out[k] = x
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = strip(x)
		}
		return out
	}
	return v
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}
