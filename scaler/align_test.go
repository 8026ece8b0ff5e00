package scaler

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

type fakePhaser struct {
	phase time.Duration
	err   error
	calls int
}

func (f *fakePhaser) ScrapePhase(_ context.Context, job string, interval time.Duration) (time.Duration, error) {
	f.calls++
	return f.phase, f.err
}

func TestAlignerWaitsForTheScrapes(t *testing.T) {
	ctx := context.Background()
	ph := &fakePhaser{phase: 300 * time.Millisecond}
	a := newAligner(ph, "node", time.Second, zaptest.NewLogger(t))
	t0 := time.Unix(1700000000, 0)

	// Scrapes land at .300: evaluations run at .400, after the margin.
	if got := a.wait(ctx, t0.Add(100*time.Millisecond)); got != 300*time.Millisecond {
		t.Errorf("wait from .100 = %v, want 300ms", got)
	}
	if got := a.wait(ctx, t0.Add(400*time.Millisecond)); got != time.Second {
		t.Errorf("wait from .400 = %v, want the next one, 1s", got)
	}
	if ph.calls != 1 {
		t.Errorf("phase asked %d times within a minute, want once", ph.calls)
	}

	// The phase is learned again after a minute, and a failure keeps the
	// last one known.
	ph.err = errors.New("prometheus is down")
	if got := a.wait(ctx, t0.Add(time.Minute+100*time.Millisecond)); got != 300*time.Millisecond {
		t.Errorf("wait with the phase unknown again = %v, want the last phase kept, 300ms", got)
	}
	if ph.calls != 2 {
		t.Errorf("phase asked %d times after a minute, want twice", ph.calls)
	}
	ph.err, ph.phase = nil, 900*time.Millisecond
	if got := a.wait(ctx, t0.Add(2*time.Minute+100*time.Millisecond)); got != 900*time.Millisecond {
		t.Errorf("wait after the scrapes moved to .900 = %v, want 900ms (to 1.000)", got)
	}
}

func TestAlignerWithoutAPhaseKeepsTheInterval(t *testing.T) {
	ph := &fakePhaser{err: errors.New("no healthy scrape target")}
	a := newAligner(ph, "node", 15*time.Second, zaptest.NewLogger(t))
	if got := a.wait(context.Background(), time.Unix(1700000000, 123)); got != 15*time.Second {
		t.Errorf("wait = %v, want the plain interval", got)
	}
	// A long interval relearns every ten of them.
	if a.relearn != 150*time.Second {
		t.Errorf("relearn = %v, want 150s", a.relearn)
	}
}
