package benchkit

import (
	"os"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{50, 50 * time.Millisecond},
		{99, 99 * time.Millisecond},
		{100, 100 * time.Millisecond},
		{0.1, time.Millisecond},
	}
	for _, tt := range tests {
		if got := l.Percentile(tt.q); got != tt.want {
			t.Errorf("Percentile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	var empty Latencies
	if got := empty.Percentile(50); got != 0 {
		t.Errorf("empty Percentile = %v, want 0", got)
	}
}

func TestProcReadsOwnProcess(t *testing.T) {
	pid := os.Getpid()
	if _, err := ProcCPU(pid); err != nil {
		t.Fatalf("ProcCPU: %v", err)
	}
	m, err := ProcMemory(pid)
	if err != nil {
		t.Fatalf("ProcMemory: %v", err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("memory = %+v, want RSS > 0 and HWM ≥ RSS", m)
	}
}
