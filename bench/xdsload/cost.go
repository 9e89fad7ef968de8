package xdsload

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procSample is one reading of a process from /proc.
type procSample struct {
	cpuSeconds float64 // user + system
	rssBytes   int64   // VmRSS
	hwmBytes   int64   // VmHWM: peak RSS since the process started
}

// readProc reads the CPU time and memory of process pid.
func readProc(pid int) (procSample, error) {
	cpu, err := readCPUSeconds(pid)
	if err != nil {
		return procSample{}, err
	}
	rss, hwm, err := readRSS(pid)
	if err != nil {
		return procSample{}, err
	}
	return procSample{cpuSeconds: cpu, rssBytes: rss, hwmBytes: hwm}, nil
}

// readCPUSeconds sums utime and stime (fields 14 and 15 of /proc/PID/stat).
func readCPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read process %d: %w", pid, err)
	}
	// The command name is in parentheses and may contain spaces.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("process %d: malformed stat", pid)
	}
	fields := strings.Fields(string(data[end+1:]))
	// fields[0] is field 3 (state), so utime (14) is fields[11].
	if len(fields) < 13 {
		return 0, fmt.Errorf("process %d: short stat", pid)
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("process %d stat: %w", pid, err)
	}
	return float64(utime+stime) / float64(clockTicks()), nil
}

// readRSS returns VmRSS and VmHWM of /proc/PID/status in bytes.
func readRSS(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if key == "VmRSS" {
			rss = kb * 1024
		} else {
			hwm = kb * 1024
		}
	}
	return rss, hwm, sc.Err()
}

var (
	clockTicksOnce sync.Once
	clockTicksVal  int64 = 100
)

// clockTicks is the kernel's USER_HZ, read from the auxiliary vector
// (AT_CLKTCK); 100 when it cannot be read.
func clockTicks() int64 {
	clockTicksOnce.Do(func() {
		data, err := os.ReadFile("/proc/self/auxv")
		if err != nil {
			return
		}
		const atClkTck = 17
		for i := 0; i+16 <= len(data); i += 16 {
			if binary.LittleEndian.Uint64(data[i:]) == atClkTck {
				if v := int64(binary.LittleEndian.Uint64(data[i+8:])); v > 0 {
					clockTicksVal = v
				}
			}
		}
	})
	return clockTicksVal
}

// FindListener returns the id of the process listening on TCP port, found
// through /proc/net/tcp{,6} and the processes' socket descriptors.
func FindListener(port int) (int, error) {
	inodes := map[string]bool{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningInodes(file, port, inodes); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no process listens on port %d", port)
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid, nil
		}
	}
	return 0, fmt.Errorf("the socket listening on port %d belongs to no visible process", port)
}

// listeningInodes adds the socket inodes of file's sockets in LISTEN state
// (st 0A) on port.
func listeningInodes(file string, port int, inodes map[string]bool) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
			inodes[f[9]] = true
		}
	}
	return nil
}

// processName is the command name of pid.
func processName(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// costSampler samples a process every interval, keeping the peak RSS of
// the current window.
type costSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	last     procSample
	peakRSS  int64
	err      error
	sampleOK bool
}

const sampleInterval = 200 * time.Millisecond

func startCostSampler(pid int) *costSampler {
	s := &costSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go s.loop()
	return s
}

func (s *costSampler) loop() {
	defer close(s.done)
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *costSampler) sample() {
	ps, err := readProc(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return
	}
	s.last, s.sampleOK = ps, true
	s.peakRSS = max(s.peakRSS, ps.rssBytes)
}

// window returns a fresh sample and the peak RSS seen since the previous
// call, starting a new window.
func (s *costSampler) window() (procSample, int64, error) {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	peak := s.peakRSS
	s.peakRSS = s.last.rssBytes
	if !s.sampleOK {
		return procSample{}, 0, s.err
	}
	return s.last, peak, nil
}

func (s *costSampler) close() {
	close(s.stop)
	<-s.done
}

// ProcessCPUSeconds is the user and system CPU time process pid has used
// since it started.
func ProcessCPUSeconds(pid int) (float64, error) { return readCPUSeconds(pid) }

// ProcessPeakRSS is the peak resident set size (VmHWM) of process pid
// since it started.
func ProcessPeakRSS(pid int) (int64, error) {
	_, hwm, err := readRSS(pid)
	return hwm, err
}
