package kubebench

import (
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

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
