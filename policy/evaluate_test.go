package policy

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func basePolicy() *Policy {
	p := &Policy{
		Name: "web", Min: 10, Max: 100, Interval: 10 * time.Second,
		Up:   Up{Threshold: 0.8, For: time.Minute, Step: Step{Kind: StepPercent, Amount: 50}, Cooldown: 3 * time.Minute},
		Down: Down{Threshold: 0.4, For: 2 * time.Minute, Stabilization: 5 * time.Minute, Cooldown: 5 * time.Minute},
	}
	p.applyDefaults()
	return p
}

// sample is one evaluation at t0+at with the metric at value (NaN: missing).
type sample struct {
	at    time.Duration
	value float64
}

// feed evaluates the samples in order against a target whose status is st,
// returning every decision. The status's Current follows each change, as the
// executor would apply it, and LastChange is set at the change.
func feed(p *Policy, st Status, samples []sample) []Decision {
	var m Memory
	var out []Decision
	for _, s := range samples {
		now := t0.Add(s.at)
		obs := Observation{Value: s.value, OK: !math.IsNaN(s.value)}
		d := p.Evaluate(&m, st, obs, now)
		out = append(out, d)
		if d.Changes() {
			st.Current = d.To
			st.LastChange = now
		}
	}
	return out
}

// series is value v every 10s from..to (inclusive of from, exclusive of to).
func series(from, to time.Duration, v float64) []sample {
	var out []sample
	for at := from; at < to; at += 10 * time.Second {
		out = append(out, sample{at, v})
	}
	return out
}

func concat(parts ...[]sample) []sample {
	var out []sample
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type change struct {
	at       time.Duration
	action   Action
	from, to float64
}

func changes(samples []sample, ds []Decision) []change {
	var out []change
	for i, d := range ds {
		if d.Changes() {
			out = append(out, change{samples[i].at, d.Action, d.From, d.To})
		}
	}
	return out
}

func TestEvaluateSequences(t *testing.T) {
	known := Status{Current: 20, Known: true, DowngradesLeft: -1}
	tests := []struct {
		name    string
		policy  func(*Policy)
		status  Status
		samples []sample
		want    []change
	}{
		{
			name:    "sustained breach scales up once the for has passed",
			samples: series(0, 70*time.Second, 18), // 0.9 for 60s+
			want:    []change{{60 * time.Second, ScaleUp, 20, 30}},
		},
		{
			name:    "brief spike does not scale",
			samples: concat(series(0, 50*time.Second, 18), series(50*time.Second, 3*time.Minute, 12)),
			want:    nil,
		},
		{
			name:    "dead band holds forever",
			samples: series(0, 30*time.Minute, 12), // 0.6
			want:    nil,
		},
		{
			name: "cooldown blocks a second scale-up",
			// 0.9 at 20, scale to 30 at 60s; then 28/30 = 0.93 stays above;
			// the next scale-up waits for the 3m cooldown after 60s.
			samples: concat(series(0, 70*time.Second, 18), series(70*time.Second, 5*time.Minute, 28)),
			want:    []change{{60 * time.Second, ScaleUp, 20, 30}, {4 * time.Minute, ScaleUp, 30, 45}},
		},
		{
			name: "stabilisation delays a scale-down until the window forgets the high",
			// 20 at 30 is in the dead band but recommends 34; the dip to 4
			// from 3m lasts down.for at 5m, and the window holds the last 34
			// (170s, in the bucket ending 187.5s) until 487.5s.
			status:  Status{Current: 30, Known: true, DowngradesLeft: -1},
			samples: concat(series(0, 3*time.Minute, 20), series(3*time.Minute, 12*time.Minute, 4)),
			want:    []change{{8*time.Minute + 10*time.Second, ScaleDown, 30, 10}},
		},
		{
			name:    "without stabilisation the same dip scales down after down.for",
			policy:  func(p *Policy) { p.Down.Stabilization = 0 },
			status:  Status{Current: 30, Known: true, DowngradesLeft: -1},
			samples: concat(series(0, 3*time.Minute, 20), series(3*time.Minute, 12*time.Minute, 4)),
			want:    []change{{5 * time.Minute, ScaleDown, 30, 10}},
		},
		{
			name:    "scale-down goes only to the highest recommendation in the window",
			status:  Status{Current: 40, Known: true, DowngradesLeft: -1},
			samples: concat(series(0, 3*time.Minute, 16), series(3*time.Minute, 11*time.Minute, 4)),
			// 16 recommends 27; at 5m that is the window's highest. The 5m
			// down cooldown then holds the next step until 10m.
			want: []change{{5 * time.Minute, ScaleDown, 40, 27}, {10 * time.Minute, ScaleDown, 27, 10}},
		},
		{
			name:    "max clamps a scale-up",
			status:  Status{Current: 80, Known: true, DowngradesLeft: -1},
			samples: series(0, 70*time.Second, 79),
			want:    []change{{60 * time.Second, ScaleUp, 80, 100}},
		},
		{
			name:    "at max holds",
			status:  Status{Current: 100, Known: true, DowngradesLeft: -1},
			samples: series(0, 5*time.Minute, 99),
			want:    nil,
		},
		{
			name:    "min clamps a scale-down",
			status:  Status{Current: 40, Known: true, DowngradesLeft: -1},
			samples: series(0, 10*time.Minute, 1),
			want:    []change{{5 * time.Minute, ScaleDown, 40, 10}},
		},
		{
			name:    "missing data never scales down",
			status:  Status{Current: 40, Known: true, DowngradesLeft: -1},
			samples: series(0, 30*time.Minute, math.NaN()),
			want:    nil,
		},
		{
			name:   "a gap in the data restarts the sustain",
			status: Status{Current: 20, Known: true, DowngradesLeft: -1},
			samples: concat(series(0, 50*time.Second, 18), []sample{{50 * time.Second, math.NaN()}},
				series(60*time.Second, 110*time.Second, 18)),
			want: nil,
		},
		{
			name:    "missing data goes to max when the policy asks",
			policy:  func(p *Policy) { p.Missing = Missing{Action: "max", After: time.Minute} },
			samples: series(0, 70*time.Second, math.NaN()),
			want:    []change{{60 * time.Second, ScaleUp, 20, 100}},
		},
		{
			name: "ladder snapping",
			policy: func(p *Policy) {
				p.Ladder = []Rung{{Value: 10}, {Value: 20}, {Value: 50}, {Value: 100}}
				p.Up.Step = Step{Kind: StepRung}
			},
			samples: series(0, 70*time.Second, 18),
			want:    []change{{60 * time.Second, ScaleUp, 20, 50}},
		},
		{
			name: "percent step snaps up to the next rung",
			policy: func(p *Policy) {
				p.Ladder = []Rung{{Value: 10}, {Value: 20}, {Value: 50}, {Value: 100}}
			},
			samples: series(0, 70*time.Second, 18), // 20 * 1.5 = 30 → 50
			want:    []change{{60 * time.Second, ScaleUp, 20, 50}},
		},
		{
			name:    "scale-down lands on a ladder rung at or above the recommendation",
			policy:  func(p *Policy) { p.Ladder = []Rung{{Value: 10}, {Value: 20}, {Value: 50}, {Value: 100}} },
			status:  Status{Current: 100, Known: true, DowngradesLeft: -1},
			samples: series(0, 10*time.Minute, 15), // rec 15/0.6 = 25 → 50
			want:    []change{{5 * time.Minute, ScaleDown, 100, 50}},
		},
		{
			name:    "no downgrade left blocks a scale-down",
			status:  Status{Current: 40, Known: true, DowngradesLeft: 0},
			samples: series(0, 20*time.Minute, 1),
			want:    nil,
		},
		{
			name:    "upgrade-only provider never scales down",
			status:  Status{Current: 40, Known: true, DowngradesLeft: -1, UpgradeOnly: true},
			samples: series(0, 20*time.Minute, 1),
			want:    nil,
		},
		{
			name: "the last downgrade waits for a whole window of dip",
			// The window is observed from t0 and the dip starts at t0, so
			// down.for (2m) would allow 5m (window covered); the last
			// downgrade waits until the dip itself has lasted 10m.
			policy:  func(p *Policy) { p.Down.Stabilization = 10 * time.Minute },
			status:  Status{Current: 40, Known: true, DowngradesLeft: 1},
			samples: series(0, 15*time.Minute, 1),
			want:    []change{{10 * time.Minute, ScaleDown, 40, 10}},
		},
		{
			name:    "unknown current value holds",
			status:  Status{Known: false, DowngradesLeft: -1},
			samples: series(0, 5*time.Minute, 1000),
			want:    nil,
		},
		{
			name:    "a floor above the value raises it at once",
			status:  Status{Current: 20, Known: true, DowngradesLeft: -1, Bounds: Bounds{Min: 80, Max: 100, MinBy: "boost"}},
			samples: series(0, 10*time.Second, 10),
			want:    []change{{0, ScaleUp, 20, 80}},
		},
		{
			name:    "a ceiling below the value lowers it at once",
			status:  Status{Current: 50, Known: true, DowngradesLeft: -1, Bounds: Bounds{Min: 10, Max: 10, MaxBy: "schedule night"}},
			samples: series(0, 10*time.Second, 45),
			want:    []change{{0, ScaleDown, 50, 10}},
		},
		{
			name:    "a ceiling lowering waits for the provider lock",
			status:  Status{Current: 50, Known: true, DowngradesLeft: -1, LockedUntil: t0.Add(time.Minute), Bounds: Bounds{Min: 10, Max: 10}},
			samples: series(0, 70*time.Second, 45),
			want:    []change{{60 * time.Second, ScaleDown, 50, 10}},
		},
		{
			name:    "in flight holds",
			status:  Status{Current: 20, Known: true, DowngradesLeft: -1, InFlight: true},
			samples: series(0, 5*time.Minute, 100),
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePolicy()
			if tt.policy != nil {
				tt.policy(p)
			}
			st := tt.status
			if st == (Status{}) {
				st = known
			}
			got := changes(tt.samples, feed(p, st, tt.samples))
			if len(got) != len(tt.want) {
				t.Fatalf("changes = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("change %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestEvaluateReasons(t *testing.T) {
	p := basePolicy()
	tests := []struct {
		name   string
		status Status
		mem    func(*Memory)
		obs    Observation
		at     time.Duration
		want   Reason
		until  time.Time
	}{
		{name: "dead band", obs: Observation{Value: 12, OK: true}, want: ReasonDeadBand},
		{name: "first breach sustains", obs: Observation{Value: 18, OK: true}, want: ReasonSustaining},
		{name: "missing", obs: Observation{}, want: ReasonMissingData},
		{
			name:   "cooldown since the last change",
			status: Status{LastChange: t0.Add(-time.Minute)},
			mem:    func(m *Memory) { m.aboveSince = t0.Add(-2 * time.Minute).UnixNano() },
			obs:    Observation{Value: 18, OK: true},
			want:   ReasonCooldown,
			until:  t0.Add(2 * time.Minute),
		},
		{
			name:   "provider lock",
			status: Status{LockedUntil: t0.Add(30 * time.Second)},
			mem:    func(m *Memory) { m.aboveSince = t0.Add(-2 * time.Minute).UnixNano() },
			obs:    Observation{Value: 18, OK: true},
			want:   ReasonProviderLock,
			until:  t0.Add(30 * time.Second),
		},
		{
			name:   "frozen until the cycle ends",
			status: Status{FrozenUntil: t0.Add(48 * time.Hour)},
			mem:    func(m *Memory) { m.aboveSince = t0.Add(-2 * time.Minute).UnixNano() },
			obs:    Observation{Value: 18, OK: true},
			want:   ReasonFrozen,
			until:  t0.Add(48 * time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.status
			st.Current, st.Known, st.DowngradesLeft = 20, true, -1
			var m Memory
			if tt.mem != nil {
				tt.mem(&m)
			}
			d := p.Evaluate(&m, st, tt.obs, t0.Add(tt.at))
			if d.Reason != tt.want || d.Action != Hold {
				t.Fatalf("decision = %s/%s, want hold/%s", d.Action, d.Reason, tt.want)
			}
			if !d.Until.Equal(tt.until) {
				t.Errorf("until = %v, want %v", d.Until, tt.until)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	p := basePolicy()
	var m Memory
	st := Status{Current: 20, Known: true, DowngradesLeft: -1}
	p.Evaluate(&m, st, Observation{Value: 18, OK: true}, t0)
	d := p.Evaluate(&m, st, Observation{Value: 18, OK: true}, t0.Add(time.Minute))
	want := "utilisation 0.9 (metric 18 ÷ 20) above 0.8 for 1m0s; 20 → 30"
	if got := d.Explain(t0.Add(time.Minute)); got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
}

func TestEvaluateAllocatesNothing(t *testing.T) {
	p := basePolicy()
	var m Memory
	st := Status{Current: 20, Known: true, DowngradesLeft: -1}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		p.Evaluate(&m, st, Observation{Value: float64(5 + i%15), OK: true}, t0.Add(time.Duration(i)*time.Second))
	})
	if allocs != 0 {
		t.Errorf("Evaluate allocates %v times per call, want 0", allocs)
	}
}
