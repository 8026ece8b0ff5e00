package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// noLeaks checks, after every cleanup of the test (the test bus's
// included), that no goroutine started by it is left.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// testBus runs an embedded JetStream server with the daemon's streams and
// the schedule bucket, for the life of the test.
func testBus(t *testing.T) (*Bus, jetstream.KeyValue) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), DontListen: true, NoSigs: true, NoLog: true,
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	ctx := context.Background()
	bus, err := OpenBus(ctx, nc, BusOptions{EventMaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := OpenScheduleBucket(ctx, bus.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	return bus, kv
}

const schedulePolicy = `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {source: prom, query: q}
    min: 20
    max: 100
    up: {threshold: 0.8, step: 10}
    down: {threshold: 0.4}
    schedules:
      - {name: nightly, at: "0 1 * * *", set: 20}
      - {name: morning, at: "0 7 * * *", set: 60, catch_up: latest}
      - {name: late, start: "0 22 * * *", duration: 4h, max: 30}
`

func parsePolicy(t *testing.T, src string) *policy.Policy {
	t.Helper()
	ps, diags := policy.Parse("p.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("policy: %s", diags)
	}
	return ps[0]
}

// schedHarness is a scheduler on a test bus; restart gives a new
// scheduler on the same bus and KV, as a daemon restart would.
type schedHarness struct {
	t     *testing.T
	bus   *Bus
	kv    jetstream.KeyValue
	p     *policy.Policy
	cache *StateCache
	s     *Scheduler
}

func newSchedHarness(t *testing.T, src string) *schedHarness {
	bus, kv := testBus(t)
	h := &schedHarness{t: t, bus: bus, kv: kv, p: parsePolicy(t, src), cache: NewStateCache()}
	h.restart()
	return h
}

func (h *schedHarness) restart() {
	rt := &Runtime{Policies: map[string]*policy.Policy{h.p.Name: h.p}}
	h.s = &Scheduler{JS: h.bus.JS, KV: h.kv, Cache: h.cache, Events: &Events{JS: h.bus.JS, Log: zaptest.NewLogger(h.t)},
		Log: zaptest.NewLogger(h.t), Runtime: func() *Runtime { return rt }, Replica: "test"}
}

func (h *schedHarness) putRecord(key string, rec FireRecord) {
	h.t.Helper()
	b, _ := json.Marshal(rec)
	if _, err := h.kv.Put(context.Background(), key, b); err != nil {
		h.t.Fatal(err)
	}
}

func (h *schedHarness) record(key string) FireRecord {
	h.t.Helper()
	recs, err := FireRecords(context.Background(), h.kv)
	if err != nil {
		h.t.Fatal(err)
	}
	return recs[key]
}

// intentsStored counts intents the stream stored (duplicates by
// Nats-Msg-Id are not stored); last is the latest for web-1.
func (h *schedHarness) intents() (stored uint64, last *Intent) {
	h.t.Helper()
	ctx := context.Background()
	info, err := h.bus.Intents.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := h.bus.Intents.GetLastMsgForSubject(ctx, IntentPrefix+"sim/bandwidth_out/web-1")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return info.State.LastSeq, nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var in Intent
	if err := json.Unmarshal(m.Data, &in); err != nil {
		h.t.Fatal(err)
	}
	return info.State.LastSeq, &in
}

// events returns every event stored, oldest first.
func (h *schedHarness) events() []Event {
	h.t.Helper()
	ctx := context.Background()
	info, err := h.bus.Events.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []Event
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := h.bus.Events.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var e Event
		if err := json.Unmarshal(m.Data, &e); err == nil {
			out = append(out, e)
		}
	}
	return out
}

func eventsOf(es []Event, typ EventType) []string {
	var out []string
	for _, e := range es {
		if e.Type == typ {
			out = append(out, e.Reason)
		}
	}
	return out
}

var day1 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func at(day, h, m int) time.Time {
	return day1.AddDate(0, 0, day-1).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

var web1 = providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "web-1"}

// Start-up after downtime, over an injected clock: which missed fires are
// replayed, which are reported, and that none is applied twice.
func TestSchedulerStartupAfterDowntime(t *testing.T) {
	noLeaks(t)
	tests := []struct {
		name     string
		records  map[string]FireRecord
		prepub   *Intent // published before the start, as a crash after publishing would leave it
		now      time.Time
		stored   uint64 // intents stored in the stream after start-up (prepub included)
		value    float64
		fire     time.Time // the fire the last intent is for
		missed   []string
		wantRecs map[string]FireRecord // fire and state only
	}{
		{
			name: "first start: a catch_up latest set is applied, a catch_up none set is not and is not a miss",
			now:  at(1, 8, 0), stored: 1, value: 60, fire: at(1, 7, 0),
			wantRecs: map[string]FireRecord{"web.nightly": {Fire: at(1, 1, 0), State: FireSkipped}, "web.morning": {Fire: at(1, 7, 0), State: FirePublished}},
		},
		{
			name:    "a restart right after a handled fire does nothing",
			records: map[string]FireRecord{"web.nightly": {Fire: at(1, 1, 0), State: FirePublished}, "web.morning": {Fire: at(1, 7, 0), State: FirePublished}},
			now:     at(1, 8, 0), stored: 0,
			wantRecs: map[string]FireRecord{"web.nightly": {Fire: at(1, 1, 0), State: FirePublished}, "web.morning": {Fire: at(1, 7, 0), State: FirePublished}},
		},
		{
			name:    "downtime over a catch_up none fire: reported, not replayed",
			records: map[string]FireRecord{"web.nightly": {Fire: at(1, 1, 0), State: FirePublished}, "web.morning": {Fire: at(2, 7, 0), State: FirePublished}},
			now:     at(2, 3, 0), stored: 0,
			missed:   []string{"schedule nightly (set 20) fired at 2026-06-02T01:00:00Z while specscale was down; not replayed (catch_up: none)"},
			wantRecs: map[string]FireRecord{"web.nightly": {Fire: at(2, 1, 0), State: FireSkipped}},
		},
		{
			name:    "downtime over several catch_up latest fires: only the latest is applied",
			records: map[string]FireRecord{"web.nightly": {Fire: at(4, 1, 0), State: FirePublished}, "web.morning": {Fire: at(1, 7, 0), State: FirePublished}},
			now:     at(4, 8, 0), stored: 1, value: 60, fire: at(4, 7, 0),
			wantRecs: map[string]FireRecord{"web.morning": {Fire: at(4, 7, 0), State: FirePublished}},
		},
		{
			name:    "a fire claimed before a crash is finished",
			records: map[string]FireRecord{"web.nightly": {Fire: at(2, 1, 0), State: FireClaimed}, "web.morning": {Fire: at(1, 7, 0), State: FirePublished}},
			now:     at(2, 1, 1), stored: 1, value: 20, fire: at(2, 1, 0),
			wantRecs: map[string]FireRecord{"web.nightly": {Fire: at(2, 1, 0), State: FirePublished}},
		},
		{
			name:    "a fire published but not marked before a crash is not stored twice",
			records: map[string]FireRecord{"web.nightly": {Fire: at(2, 1, 0), State: FireClaimed}, "web.morning": {Fire: at(1, 7, 0), State: FirePublished}},
			prepub:  &Intent{ID: IntentID(web1, KindSchedule, 20, "", at(2, 1, 0)), Target: web1, Value: 20, Kind: KindSchedule, Policy: "web", CreatedAt: at(2, 1, 0), NotAfter: at(3, 1, 0)},
			now:     at(2, 1, 1), stored: 1, value: 20, fire: at(2, 1, 0),
			wantRecs: map[string]FireRecord{"web.nightly": {Fire: at(2, 1, 0), State: FirePublished}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSchedHarness(t, schedulePolicy)
			for k, r := range tt.records {
				h.putRecord(k, r)
			}
			if tt.prepub != nil {
				if err := PublishIntent(context.Background(), h.bus.JS, tt.prepub); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.s.Startup(context.Background(), tt.now); err != nil {
				t.Fatal(err)
			}
			stored, last := h.intents()
			if stored != tt.stored {
				t.Fatalf("intents stored = %d, want %d", stored, tt.stored)
			}
			if tt.stored > 0 {
				if last.Value != tt.value || last.Kind != KindSchedule || last.ID != IntentID(web1, KindSchedule, tt.value, "", tt.fire) {
					t.Errorf("intent = %+v, want %g for the fire at %s", last, tt.value, tt.fire)
				}
			}
			if got := eventsOf(h.events(), EventScheduleMissed); strings.Join(got, "\n") != strings.Join(tt.missed, "\n") {
				t.Errorf("missed events = %q, want %q", got, tt.missed)
			}
			for k, want := range tt.wantRecs {
				if got := h.record(k); !got.Fire.Equal(want.Fire) || got.State != want.State {
					t.Errorf("record %s = %s %s, want %s %s", k, got.Fire, got.State, want.Fire, want.State)
				}
			}

			// A second start at the same time changes nothing: no fire
			// is applied or reported twice.
			events := len(h.events())
			h.restart()
			h.s.Startup(context.Background(), tt.now)
			if again, _ := h.intents(); again != stored {
				t.Errorf("a second start stored %d more intents", again-stored)
			}
			if got := eventsOf(h.events()[events:], EventScheduleMissed); len(got) != 0 {
				t.Errorf("a second start reported %q again", got)
			}
		})
	}
}

// Step over an injected clock: a fire is applied once, lands inside the
// bounds in force (a window caps it, a boost outranks both), and windows
// report their edges.
func TestSchedulerStep(t *testing.T) {
	noLeaks(t)
	h := newSchedHarness(t, schedulePolicy)
	ctx := context.Background()
	// First start at 00:30, inside the window late (22:00–02:00, max
	// 30): nightly's past fire is only recorded; morning catches up on
	// yesterday's 07:00, which the window lowers to 30.
	if err := h.s.Startup(ctx, at(1, 0, 30)); err != nil {
		t.Fatal(err)
	}
	stored, in := h.intents()
	if stored != 1 || in.Value != 30 || !strings.HasSuffix(in.Reason, "set 60; lowered from 60 to the maximum 30 set by schedule late; caught up at start-up (catch_up: latest)") {
		t.Fatalf("after start-up: %d intents, last %+v", stored, in)
	}

	// 01:00: nightly sets 20; the window late (22:00–02:00) caps at 30,
	// so 20 stands.
	if next, err := h.s.Step(ctx, at(1, 0, 30), at(1, 1, 0)); err != nil || !next.Equal(at(1, 1, 0)) {
		t.Fatalf("step = %v, %v", next, err)
	}
	stored, in = h.intents()
	if stored != 2 || in.Value != 20 || !in.NotAfter.Equal(at(2, 1, 0)) || !strings.HasPrefix(in.Reason, "schedule nightly fired at 2026-06-01 01:00:00 UTC: set 20") {
		t.Fatalf("after 01:00: %d intents, last %+v", stored, in)
	}
	// The same interval again, and a restarted scheduler: nothing new.
	h.s.Step(ctx, at(1, 0, 30), at(1, 1, 0))
	h.restart()
	h.s.Step(ctx, at(1, 0, 30), at(1, 1, 5))
	if again, _ := h.intents(); again != 2 {
		t.Fatalf("the 01:00 fire was published %d times", again-1)
	}

	// 07:00: morning sets 60, but a boost to 80 is active: the boost wins.
	h.cache.Set(&TargetState{Target: web1, Value: 20, Known: true, Boost: &Boost{ID: "b", Value: 80, Until: at(1, 9, 0)}}, 1)
	h.s.Step(ctx, at(1, 1, 5), at(1, 7, 0))
	if _, in = h.intents(); in.Value != 80 || !strings.Contains(in.Reason, "raised from 60 to the minimum 80 set by boost") {
		t.Fatalf("07:00 under a boost: %+v", in)
	}

	// Day 2, 01:00 inside the window: the boost is over; nightly's 20 is
	// under the window's cap of 30 and stands. A set of 60 would not.
	h.cache.Set(&TargetState{Target: web1, Value: 80, Known: true}, 2)
	h.s.Step(ctx, at(1, 7, 0), at(1, 21, 59))
	h.s.Step(ctx, at(1, 21, 59), at(1, 22, 0))
	h.s.Step(ctx, at(1, 22, 0), at(2, 1, 0))
	if _, in = h.intents(); in.Value != 20 {
		t.Fatalf("day 2 01:00: %+v", in)
	}
	h.s.Step(ctx, at(2, 1, 0), at(2, 2, 0))

	want := []string{
		"schedule late (window max 30 for 4h0m0s) open from 2026-05-31 22:00:00 UTC until 2026-06-01 02:00:00 UTC",
		// Again from the restarted scheduler: windows live in memory.
		"schedule late (window max 30 for 4h0m0s) open from 2026-05-31 22:00:00 UTC until 2026-06-01 02:00:00 UTC",
		"schedule late closed; the policy's own bounds apply again",
		"schedule late (window max 30 for 4h0m0s) open from 2026-06-01 22:00:00 UTC until 2026-06-02 02:00:00 UTC",
		"schedule late closed; the policy's own bounds apply again",
	}
	var got []string
	for _, e := range h.events() {
		if e.Type == EventWindowOpened || e.Type == EventWindowClosed {
			got = append(got, e.Reason)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("window events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := h.s.nextWake(at(2, 2, 0)); !n.Equal(at(2, 7, 0)) {
		t.Errorf("next wake after 02:00 = %v, want 07:00", n)
	}
}

// A window open at start-up is reported at once, whatever happened
// while the daemon was down.
func TestSchedulerStartupReportsOpenWindow(t *testing.T) {
	noLeaks(t)
	h := newSchedHarness(t, schedulePolicy)
	h.s.Startup(context.Background(), at(2, 0, 15))
	got := eventsOf(h.events(), EventWindowOpened)
	want := "schedule late (window max 30 for 4h0m0s) open from 2026-06-01 22:00:00 UTC until 2026-06-02 02:00:00 UTC"
	if len(got) != 1 || got[0] != want {
		t.Errorf("opened events = %q, want %q", got, want)
	}
}

// Run is owned: it stops when its context ends and leaves no goroutine
// behind, and a kick (a reload) makes it look at once.
func TestSchedulerRunStops(t *testing.T) {
	noLeaks(t)
	bus, _ := testBus(t)
	p := parsePolicy(t, schedulePolicy)
	rt := &Runtime{Policies: map[string]*policy.Policy{p.Name: p}}
	kick := make(chan struct{}, 1)
	s := &Scheduler{JS: bus.JS, Cache: NewStateCache(), Events: &Events{JS: bus.JS, Log: zaptest.NewLogger(t)}, Log: zaptest.NewLogger(t),
		Runtime: func() *Runtime { return rt }, Now: time.Now, Replica: "test", Kick: kick}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	kick <- struct{}{}
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	if s.KV == nil {
		t.Error("Run did not open the schedule bucket")
	}
}

// Precedence, through the engine's own status: an active boost, then
// schedule windows, then the policy's bounds. The evaluator's decision and
// the intent kind follow; the executor's bound check accepts what a window
// allows and refuses it outside the window.
func TestPrecedenceBoostWindowPolicy(t *testing.T) {
	p := parsePolicy(t, `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {source: prom, query: q}
    min: 20
    max: 100
    up: {threshold: 0.8, step: 10}
    down: {threshold: 0.4}
    schedules:
      - {name: night, start: "0 1 * * *", end: "0 7 * * *", max: 10}
      - {name: launch, start: "0 12 * * *", duration: 2h, min: 90}
`)
	e := &Engine{Bounds: ScheduleBounds}
	r := &runner{p: p, rt: &Runtime{Accounts: map[string]*Account{}}}
	tr := &targetRun{t: web1, key: web1.Key()}
	boost := func(v float64, until time.Time) *Boost { return &Boost{ID: "b", Value: v, Until: until} }
	tests := []struct {
		name   string
		now    time.Time
		boost  *Boost
		bounds policy.Bounds
		action policy.Action
		to     float64
		kind   Kind
	}{
		{"the policy alone", at(1, 9, 0), nil, policy.Bounds{Min: 20, Max: 100}, policy.Hold, 50, ""},
		{"a night cap", at(1, 2, 0), nil, policy.Bounds{Min: 10, Max: 10, MinBy: "schedule night", MaxBy: "schedule night"}, policy.ScaleDown, 10, KindSchedule},
		{"a launch floor", at(1, 12, 30), nil, policy.Bounds{Min: 90, Max: 100, MinBy: "schedule launch"}, policy.ScaleUp, 90, KindSchedule},
		{"a boost over the night cap", at(1, 2, 0), boost(60, at(1, 4, 0)), policy.Bounds{Min: 60, Max: 60, MinBy: "boost", MaxBy: "boost"}, policy.ScaleUp, 60, KindBoost},
		{"a boost over the policy", at(1, 9, 0), boost(70, at(1, 10, 0)), policy.Bounds{Min: 70, Max: 100, MinBy: "boost"}, policy.ScaleUp, 70, KindBoost},
		{"a boost below the launch floor changes nothing", at(1, 12, 30), boost(60, at(1, 13, 0)), policy.Bounds{Min: 90, Max: 100, MinBy: "schedule launch"}, policy.ScaleUp, 90, KindSchedule},
		{"an expired boost: the night cap again", at(1, 5, 0), boost(60, at(1, 4, 0)), policy.Bounds{Min: 10, Max: 10, MinBy: "schedule night", MaxBy: "schedule night"}, policy.ScaleDown, 10, KindSchedule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &TargetState{Target: web1, Value: 50, Known: true, Boost: tt.boost}
			s := e.status(r, tr, st, tt.now)
			if s.Bounds != tt.bounds {
				t.Fatalf("bounds = %+v, want %+v", s.Bounds, tt.bounds)
			}
			var m policy.Memory
			d := p.Evaluate(&m, s, policy.Observation{Value: 30, OK: true}, tt.now) // 0.6: the dead band
			if d.Action != tt.action || d.To != tt.to {
				t.Fatalf("decision = %s %g (%s), want %s %g", d.Action, d.To, d.Reason, tt.action, tt.to)
			}
			if d.Changes() && kindOf(d) != tt.kind {
				t.Errorf("kind = %s, want %s", kindOf(d), tt.kind)
			}
		})
	}

	// The executor's re-check: 10 is below the policy's min but inside
	// the night window's; outside the window it is refused.
	in := &Intent{Target: web1, Value: 10, Kind: KindSchedule, Policy: "web"}
	if err := CheckBounds(in, p, at(1, 2, 0)); err != nil {
		t.Errorf("inside the window: %v", err)
	}
	if err := CheckBounds(in, p, at(1, 8, 0)); err == nil || err.Error() != `value 10 lies outside policy "web" bounds 20–100` {
		t.Errorf("outside the window: %v", err)
	}
}
