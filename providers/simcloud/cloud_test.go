package simcloud

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRules(t *testing.T) {
	target := providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "i-1"}
	change := func(v float64, token string) providers.Change {
		return providers.Change{Target: target, Value: v, Token: token}
	}
	type step struct {
		advance time.Duration
		change  providers.Change
		code    string // expected refusal code, "" for accepted
		outcome providers.Outcome
	}
	tests := []struct {
		name  string
		rules func(*Rules)
		inst  func(*Instance)
		steps []step
	}{
		{
			name: "lock after each change",
			steps: []step{
				{change: change(20, "a")},
				{advance: 4 * time.Minute, change: change(30, "b"), code: CodeLocked},
				{advance: time.Minute, change: change(30, "c")},
			},
		},
		{
			name:  "three downgrades per cycle, then the quota",
			rules: func(r *Rules) { r.Lock = 0 },
			steps: []step{
				{change: change(9, "d1")}, {change: change(8, "d2")}, {change: change(7, "d3")},
				{change: change(6, "d4"), code: CodeQuota},
				{change: change(50, "up")}, // upgrades still go
				{advance: 30 * 24 * time.Hour, change: change(6, "d5")},
			},
		},
		{
			name: "same token, same parameters: the first result; different parameters: refused",
			steps: []step{
				{change: change(20, "t")},
				{change: change(20, "t")},
				{change: change(30, "t"), code: CodeTokenMismatch},
			},
		},
		{
			name:  "range",
			steps: []step{{change: change(201, "r"), code: CodeInvalidValue}},
		},
		{
			name:  "status",
			inst:  func(in *Instance) { in.Status = "Stopped" },
			steps: []step{{change: change(20, "s"), code: CodeStatus}},
		},
		{
			name:  "a change in progress refuses the next",
			rules: func(r *Rules) { r.AsyncDelay = time.Minute; r.Lock = 0 },
			steps: []step{
				{change: change(20, "p1"), outcome: providers.Processing},
				{advance: 30 * time.Second, change: change(30, "p2"), code: CodeLastOrder},
				{advance: 31 * time.Second, change: change(30, "p3"), outcome: providers.Processing},
			},
		},
		{
			name:  "prepaid downgrade at the next cycle",
			rules: func(r *Rules) { r.NextCycleDowngrades = true },
			inst:  func(in *Instance) { in.Prepaid = true },
			steps: []step{{change: change(5, "n"), outcome: providers.NextCycle}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := DefaultRules()
			if tt.rules != nil {
				tt.rules(&rules)
			}
			clk := &clock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
			c, err := New(rules, WithClock(clk.now), WithSeed(1))
			if err != nil {
				t.Fatal(err)
			}
			in := Instance{ID: "i-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}
			if tt.inst != nil {
				tt.inst(&in)
			}
			if err := c.Put(in); err != nil {
				t.Fatal(err)
			}
			accepted := 0
			for i, s := range tt.steps {
				clk.t = clk.t.Add(s.advance)
				e, aerr := c.Apply(s.change)
				switch {
				case s.code == "" && aerr != nil:
					t.Fatalf("step %d: refused %s, want accepted", i, aerr.Code)
				case s.code != "" && aerr == nil:
					t.Fatalf("step %d: accepted, want %s", i, s.code)
				case s.code != "" && aerr.Code != s.code:
					t.Fatalf("step %d: refused %s, want %s", i, aerr.Code, s.code)
				}
				if aerr == nil {
					want := s.outcome
					if want == "" {
						want = providers.Applied
					}
					if e.Outcome != want {
						t.Errorf("step %d: outcome %s, want %s", i, e.Outcome, want)
					}
				}
				if aerr == nil && (i == 0 || s.change.Token != tt.steps[i-1].change.Token) {
					accepted++
				}
			}
			if got := len(c.Ledger()); got != accepted {
				t.Errorf("ledger has %d entries, want %d", got, accepted)
			}
		})
	}
}

func TestNextCycleDowngradeTakesEffectAtCycleEnd(t *testing.T) {
	rules := DefaultRules()
	rules.NextCycleDowngrades = true
	clk := &clock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	c, _ := New(rules, WithClock(clk.now))
	_ = c.Put(Instance{ID: "i-1", Prepaid: true, Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	target := providers.Target{Resource: providers.BandwidthOut, Instance: "i-1"}
	if _, aerr := c.Apply(providers.Change{Target: target, Value: 5, Token: "x"}); aerr != nil {
		t.Fatal(aerr)
	}
	spec, _ := c.Current(target)
	if spec.Value != 10 || spec.Pending == nil || spec.Pending.State != providers.NextCycle || spec.Pending.Value != 5 {
		t.Fatalf("before the cycle ends: %+v pending %+v", spec, spec.Pending)
	}
	clk.t = clk.t.Add(30 * 24 * time.Hour)
	spec, _ = c.Current(target)
	if spec.Value != 5 || spec.Pending != nil {
		t.Fatalf("after the cycle ends: value %v pending %+v", spec.Value, spec.Pending)
	}
}

func TestStateFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.json")
	c, err := New(DefaultRules(), WithStateFile(path))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Put(Instance{ID: "i-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	target := providers.Target{Resource: providers.BandwidthOut, Instance: "i-1"}
	if _, aerr := c.Apply(providers.Change{Target: target, Value: 20, Token: "tok"}); aerr != nil {
		t.Fatal(aerr)
	}
	c2, err := New(DefaultRules(), WithStateFile(path))
	if err != nil {
		t.Fatal(err)
	}
	if l := c2.Ledger(); len(l) != 1 || l[0].To != 20 {
		t.Fatalf("ledger after restart = %+v", l)
	}
	// The token is remembered too: a retry changes nothing twice.
	if _, aerr := c2.Apply(providers.Change{Target: target, Value: 20, Token: "tok"}); aerr != nil || len(c2.Ledger()) != 1 {
		t.Fatalf("retry after restart: %v, ledger %d", aerr, len(c2.Ledger()))
	}
	// And the lock.
	if _, aerr := c2.Apply(providers.Change{Target: target, Value: 30, Token: "new"}); aerr == nil || aerr.Code != CodeLocked {
		t.Fatalf("change inside the lock after restart: %v", aerr)
	}
}
