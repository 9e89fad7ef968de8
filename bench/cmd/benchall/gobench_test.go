package main

import (
	"slices"
	"testing"
)

const goTestOutput = `goos: linux
goarch: amd64
pkg: github.com/isthmus-mesh/isthmus/bench
cpu: AMD EPYC
BenchmarkFullPush1000Proxies/sotw-2         	       3	 458796766 ns/op	   7424900 bytes-sent/op	       431.6 p99-ms	65444650 B/op	  653355 allocs/op
BenchmarkTranslate1000Services/sidecar-scoped-2         	    2694	    637394 ns/op	        44.00 clusters	  190086 B/op	    2958 allocs/op
BenchmarkPlain	     100	      1234 ns/op
PASS
ok  	github.com/isthmus-mesh/isthmus/bench	25.971s
`

func TestParseGoBenchReadsEveryResultLine(t *testing.T) {
	cpu, lines := parseGoBench(goTestOutput)
	if cpu != "AMD EPYC" {
		t.Errorf("cpu = %q", cpu)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3: %+v", len(lines), lines)
	}
	push := lines[0]
	if push.Name != "BenchmarkFullPush1000Proxies/sotw" || push.Iterations != 3 || push.NsPerOp != 458796766 ||
		push.BytesPerOp != 65444650 || push.AllocsPerOp != 653355 {
		t.Errorf("push line = %+v", push)
	}
	if want := []metric{{"7424900", "bytes-sent/op"}, {"431.6", "p99-ms"}}; !slices.Equal(push.Metrics, want) {
		t.Errorf("push metrics = %v, want %v", push.Metrics, want)
	}
	if lines[1].Name != "BenchmarkTranslate1000Services/sidecar-scoped" || !slices.Equal(lines[1].Metrics, []metric{{"44.00", "clusters"}}) {
		t.Errorf("translate line = %+v", lines[1])
	}
	if plain := lines[2]; plain.Name != "BenchmarkPlain" || plain.BytesPerOp != -1 || plain.AllocsPerOp != -1 || len(plain.Metrics) != 0 {
		t.Errorf("line without -benchmem figures = %+v", plain)
	}
}

func TestGoBenchTableShowsEachBenchmark(t *testing.T) {
	_, lines := parseGoBench(goTestOutput)
	text := section(&results{Config: defaultConfig(), GoBench: &goBenchResult{Command: "go test", Lines: lines}})
	for _, want := range []string{
		"| BenchmarkFullPush1000Proxies/sotw | 3 | 458.80 ms | 62.4 MiB | 653,355 | 7424900 bytes-sent/op, 431.6 p99-ms |",
		"| BenchmarkPlain | 100 | 1.2 µs | – | – |  |",
	} {
		if !contains(text, want) {
			t.Errorf("section lacks %q:\n%s", want, text)
		}
	}
}
