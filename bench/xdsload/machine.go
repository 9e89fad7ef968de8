package xdsload

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes the computer a run happened on.
type Machine struct {
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpuModel"`
	MemoryBytes int64  `json:"memoryBytes"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"goVersion"`
}

// DescribeMachine reads the machine's description from /proc.
func DescribeMachine() Machine {
	return Machine{
		CPUs:        runtime.NumCPU(),
		CPUModel:    procField("/proc/cpuinfo", "model name"),
		MemoryBytes: memTotal(),
		Kernel:      readTrimmed("/proc/sys/kernel/osrelease"),
		GoVersion:   runtime.Version(),
	}
}

// String is a one-line description, as RESULTS.md records it.
func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %.1f GiB memory, Linux %s, %s",
		m.CPUs, m.CPUModel, float64(m.MemoryBytes)/(1<<30), m.Kernel, m.GoVersion)
}

// procField returns the value of the first "key : value" line of file.
func procField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func memTotal() int64 {
	v := strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB")
	kb, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return kb * 1024
}

func readTrimmed(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// LoadAverage is the 1, 5 and 15 minute load averages from /proc/loadavg,
// or "" where they cannot be read.
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(data))
	return strings.Join(fields[:min(3, len(fields))], " ")
}
