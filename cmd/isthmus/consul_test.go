package main

import (
	"slices"
	"testing"
)

// --consul takes [NAME=]ADDR, repeatable, each name once; the other
// Consul flags apply to all.
func TestConsulFlags(t *testing.T) {
	opts, _, err := parseServeFlags([]string{"--config-dir", ".", "--consul", "127.0.0.1:8500", "--consul", "east=https://consul.east:8501",
		"--consul-token-file", "/run/token", "--consul-suffix", "consul.local", "--consul-include-warning"})
	if err != nil {
		t.Fatal(err)
	}
	want := consulFlag{{address: "127.0.0.1:8500"}, {name: "east", address: "https://consul.east:8501"}}
	if !slices.Equal(opts.consul.sources, want) || opts.consul.tokenFile != "/run/token" || opts.consul.suffix != "consul.local" || !opts.consul.includeWarning {
		t.Errorf("parsed %+v", opts.consul)
	}
	for _, args := range [][]string{
		{"--consul", "east=127.0.0.1:1", "--consul", "east=127.0.0.1:2"},
		{"--consul", "=127.0.0.1:1"},
		{"--consul", "east="},
	} {
		if _, _, err := parseServeFlags(append([]string{"--config-dir", "."}, args...)); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
