package policy

import (
	"math"
	"testing"
	"time"

	"github.com/specscale/specscale/internal/benchkit"
)

// The evaluator's budget: at least a million target evaluations per second
// per core, and no allocation. These benchmarks evaluate many targets in
// turn (so their Memory does not all sit in L1, as it would not in a
// daemon), advance the clock by a second per round, and drive the metric
// through the paths a real fleet takes: mostly the dead band, some
// sustaining breaches, dips that consult the stabilisation window, and the
// odd missing sample.
//
//	go test ./policy -run '^$' -bench Evaluate -cpu 1 -count 5

// benchFleet is n targets with their memory and status.
type benchFleet struct {
	p   *Policy
	mem []Memory
	st  []Status
}

func newBenchFleet(p *Policy, n int) *benchFleet {
	f := &benchFleet{p: p, mem: make([]Memory, n), st: make([]Status, n)}
	for i := range f.st {
		f.st[i] = Status{Current: 20 + float64(i%5)*10, Known: true, DowngradesLeft: -1, LastChange: t0.Add(-time.Hour)}
	}
	return f
}

// metric gives target i's sample in round r for a shape.
type shape func(i, r int) Observation

// deadBand: utilisation between the thresholds (0.4–0.8) everywhere.
func deadBand(i, r int) Observation {
	return Observation{Value: float64(10 + (i+r)%7), OK: true} // 10–16 on 20–60: 0.17–0.8
}

// mixed is what a fleet looks like: 80 % of targets in the dead band, 10 %
// above the scale-up threshold (sustaining, then breaching into a
// cooldown), 8 % below the scale-down threshold (the stabilisation window
// is searched), 2 % with no sample.
func mixed(i, r int) Observation {
	switch k := (i*7 + r/60) % 50; {
	case k < 40:
		return Observation{Value: 0.6 * float64(20+(i%5)*10), OK: true}
	case k < 45:
		return Observation{Value: 0.9 * float64(20+(i%5)*10), OK: true}
	case k < 49:
		return Observation{Value: 0.2 * float64(20+(i%5)*10), OK: true}
	}
	return Observation{Value: math.NaN()}
}

func (f *benchFleet) run(b *testing.B, sh shape) {
	b.Helper()
	n := len(f.mem)
	b.ReportAllocs()
	i, round := 0, 0
	now := t0
	cpu0 := benchkit.SelfCPU()
	for b.Loop() {
		obs := sh(i, round)
		f.p.Evaluate(&f.mem[i], f.st[i], obs, now)
		i++
		if i == n {
			i = 0
			round++
			now = now.Add(time.Second)
		}
	}
	// The machine is shared: CPU time per evaluation is the figure that
	// load does not distort; evals/s is by the wall clock.
	b.ReportMetric(float64(benchkit.SelfCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}

func BenchmarkEvaluate(b *testing.B) {
	ladder := func(p *Policy) {
		p.Ladder = []Rung{{Value: 10}, {Value: 20}, {Value: 30}, {Value: 40}, {Value: 50}, {Value: 60}, {Value: 80}, {Value: 100}}
		p.Up.Step = Step{Kind: StepRung}
	}
	for _, bc := range []struct {
		name    string
		targets int
		shape   shape
		policy  func(*Policy)
	}{
		{"deadband/targets=1k", 1_000, deadBand, nil},
		{"mixed/targets=1k", 1_000, mixed, nil},
		{"mixed/targets=100k", 100_000, mixed, nil},
		{"mixed-ladder/targets=100k", 100_000, mixed, ladder},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := basePolicy()
			if bc.policy != nil {
				bc.policy(p)
			}
			newBenchFleet(p, bc.targets).run(b, bc.shape)
		})
	}
}
