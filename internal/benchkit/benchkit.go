// Package benchkit holds what specscale's benchmarks and `specscale bench`
// share: latency percentiles, the CPU time and resident memory of a process
// read from /proc, and the machine's load. It has no dependencies beyond the
// standard library, so benchmarks in any package can use it.
package benchkit

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Latencies collects durations and answers percentiles.
type Latencies struct {
	d      []time.Duration
	sorted bool
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.d = append(l.d, d)
	l.sorted = false
}

// Len is the number of durations recorded.
func (l *Latencies) Len() int { return len(l.d) }

// Percentile returns the q-th percentile (0 < q ≤ 100) by the nearest-rank
// method, or 0 with nothing recorded.
func (l *Latencies) Percentile(q float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	if !l.sorted {
		slices.Sort(l.d)
		l.sorted = true
	}
	rank := int(q/100*float64(len(l.d)) + 0.999999)
	rank = min(max(rank, 1), len(l.d))
	return l.d[rank-1]
}

// Max is the longest duration recorded.
func (l *Latencies) Max() time.Duration { return l.Percentile(100) }

// Summary renders "n=… p50=… p99=… max=…".
func (l *Latencies) Summary() string {
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", l.Len(),
		ms(l.Percentile(50)), ms(l.Percentile(90)), ms(l.Percentile(99)), ms(l.Max()))
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

// Ms is d in milliseconds, for benchmark metrics.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// SelfCPU is the CPU time (user + system) this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTick = 100

// ProcCPU is the CPU time (user + system) process pid has used, from
// /proc/<pid>/stat.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	// After ')': state is field 3 of stat(5); utime 14 and stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// Memory is a process's resident memory from /proc/<pid>/status, in bytes:
// RSS now and its high-water mark; RSS split into anonymous memory (the
// heap, stacks) and file-backed pages (mostly the binary's own code).
type Memory struct {
	RSS, HWM   int64
	Anon, File int64
}

// ProcMemory reads process pid's resident memory.
func ProcMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		*dst = kb << 10
	}
	return m, nil
}

// MiB is bytes in mebibytes.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }

// Load is the one-minute load average, or -1 when unknown. Benchmarks
// report it beside their figures: this machine is shared.
func Load() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
