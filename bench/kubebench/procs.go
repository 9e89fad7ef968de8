package kubebench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

// processesOf lists the processes running bin (their first argument)
// whose command line also contains dir: a kubeharness cluster's etcd and
// kube-apiserver, which name its scratch directory in their flags.
// Isthmus, whose flags name the cluster's kubeconfig, runs another binary.
func processesOf(bin, dir string) []int {
	var pids []int
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, file := range cmdlines {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		argv0, _, _ := bytes.Cut(data, []byte{0})
		if string(argv0) != bin || !bytes.Contains(data, []byte(dir)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(file))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuMeter sums the CPU time of a set of processes.
type cpuMeter struct {
	pids []int
	last float64
}

func newCPUMeter(pids []int) *cpuMeter {
	m := &cpuMeter{pids: pids}
	m.last = m.total()
	return m
}

func (m *cpuMeter) total() float64 {
	var sum float64
	for _, pid := range m.pids {
		if s, err := xdsload.ProcessCPUSeconds(pid); err == nil {
			sum += s
		}
	}
	return sum
}

// lap returns the CPU seconds used since the previous lap (or the start).
func (m *cpuMeter) lap() float64 {
	now := m.total()
	d := now - m.last
	m.last = now
	return d
}

// peakRSS sums the processes' peak resident set sizes.
func (m *cpuMeter) peakRSS() int64 {
	var sum int64
	for _, pid := range m.pids {
		if b, err := xdsload.ProcessPeakRSS(pid); err == nil {
			sum += b
		}
	}
	return sum
}
