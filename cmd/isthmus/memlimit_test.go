package main

import "testing"

func TestMemoryLimitSources(t *testing.T) {
	noCgroup := func() (int64, bool) { return 0, false }
	cgroup := func() (int64, bool) { return 1 << 30, true }
	cases := []struct {
		name, flag string
		cgroup     func() (int64, bool)
		want       int64
		source     string
	}{
		{"flag", "450MiB", cgroup, 450 << 20, "--memory-limit"},
		{"flag off", "0", cgroup, 0, "--memory-limit"},
		{"container", "", cgroup, 966367641, "container limit"}, // 90% of 1 GiB
		{"nothing", "", noCgroup, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, source, err := memoryLimit(c.flag, "", c.cgroup)
			if err != nil || got != c.want || source != c.source {
				t.Fatalf("memoryLimit = %d, %q, %v; want %d, %q", got, source, err, c.want, c.source)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512KiB": 512 << 10, "1000": 1000, "3B": 3} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5GiB", "-1MiB", "450MB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
