package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// machine describes where the run happened.
type machine struct {
	xdsload.Machine
	Envoy     string // Envoy's version, or why it is unknown
	LoadStart string // /proc/loadavg's three averages when the run started
	LoadEnd   string // and when it ended
}

func describeMachine() machine {
	return machine{Machine: xdsload.DescribeMachine(), Envoy: envoyVersion(), LoadStart: xdsload.LoadAverage()}
}

// String is the machine in one Markdown line.
func (m machine) String() string {
	cpu := m.CPUModel
	if cpu == "" {
		cpu = "CPU model unknown"
	}
	return fmt.Sprintf("`nproc` = %d (%s), %.1f GiB memory, Linux %s, %s, Envoy %s; load average %s at the start, %s at the end",
		m.CPUs, cpu, float64(m.MemoryBytes)/(1<<30), m.Kernel, m.GoVersion, m.Envoy, orUnknown(m.LoadStart), orUnknown(m.LoadEnd))
}

// envoyVersion is the version `envoy --version` reports for the Envoy the
// data-plane benchmark uses.
func envoyVersion() string {
	bin, err := localmesh.EnvoyPath()
	if err != nil {
		return "not installed (`make tools`)"
	}
	v, err := envoybin.Version(bin)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	return v
}

// gitCommit is the short commit of the repository at root, with "+dirty"
// when the working tree differs from it. It only reads the repository.
func gitCommit(root string) string {
	head, err := gitOutput(root, "rev-parse", "--short", "HEAD")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	status, err := gitOutput(root, "--no-optional-locks", "status", "--porcelain")
	if err != nil {
		return head + " (working tree state unknown)"
	}
	if status != "" {
		return head + "+dirty"
	}
	return head
}

func gitOutput(root string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
