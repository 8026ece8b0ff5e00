package scaler

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// A reload carries each target's evaluation memory over to the new
// runners, and keeps no second copy of it in the engine.
func TestReloadCarriesMemoryWithoutKeepingACopy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &policy.Policy{Name: "edge", Interval: time.Hour, Metric: policy.Metric{Source: "pushed"},
		Targets: policy.Targets{Provider: "sim", Resource: string(providers.BandwidthOut), Instances: []string{"a", "b"}}}
	rt := &Runtime{Policies: map[string]*policy.Policy{"edge": p}}
	e := &Engine{Log: zap.NewNop(), Now: time.Now, Cache: NewStateCache(), ctx: ctx, memory: map[string]policy.Memory{}}
	e.Apply(rt)
	e.mu.RLock()
	tr := e.runners["edge"].targets[0]
	e.mu.RUnlock()
	// The runner's goroutine owns its targets; with no samples and an
	// hour's interval it does not touch them.
	tr.mem.Reset()
	p.Evaluate(&tr.mem, policy.Status{Known: true, Current: 10, DowngradesLeft: -1}, policy.Observation{Value: 9, OK: true}, time.Now())
	want := tr.mem

	e.Apply(rt) // a reload
	e.mu.RLock()
	got := e.runners["edge"].targets[0].mem
	kept := len(e.memory)
	e.mu.RUnlock()
	if got != want {
		t.Errorf("memory after the reload = %+v, want %+v", got, want)
	}
	if kept != 0 {
		t.Errorf("the engine keeps %d memories besides its runners', want none", kept)
	}
	cancel()
	e.stopAll()
}

// The latest usable sample of a target is kept in place, for the boost
// engine, and survives a reload.
func TestLastObservationSurvivesAReload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &policy.Policy{Name: "edge", Interval: time.Hour, Metric: policy.Metric{Source: "pushed"},
		Targets: policy.Targets{Provider: "sim", Resource: string(providers.BandwidthOut), Instances: []string{"a"}}}
	rt := &Runtime{Policies: map[string]*policy.Policy{"edge": p}}
	e := &Engine{Log: zap.NewNop(), Now: time.Now, Cache: NewStateCache(), ctx: ctx, memory: map[string]policy.Memory{}}
	e.Apply(rt)
	key := Targets(p)[0].Key()
	if _, _, ok := e.LastObservation(key); ok {
		t.Fatal("an observation before any sample")
	}
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	e.mu.RLock()
	r := e.runners["edge"]
	e.mu.RUnlock()
	// As the runner's goroutine would (it is idle: no samples, an hour's
	// interval).
	e.evaluate(ctx, r, r.targets[0], policy.Observation{Value: 42, OK: true}, at)
	e.evaluate(ctx, r, r.targets[0], policy.Observation{}, at.Add(time.Second)) // missing: kept
	e.Apply(rt)
	v, when, ok := e.LastObservation(key)
	if !ok || v != 42 || !when.Equal(at) {
		t.Errorf("after a reload: %v at %v (%v), want 42 at %v", v, when, ok, at)
	}
	cancel()
	e.stopAll()
}
