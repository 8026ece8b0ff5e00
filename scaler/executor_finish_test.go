package scaler_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/time/rate"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// anotherWriter records a boost in the target's state, as the boost engine
// or a second replica may while the executor works on the target.
func anotherWriter(t *testing.T, ctx context.Context, store *scaler.Store, tg providers.Target) {
	_, _, err := store.Modify(ctx, tg, func(st *scaler.TargetState) bool {
		st.Boost = &scaler.Boost{ID: "another-writer", Value: 5, Until: time.Now().Add(time.Hour)}
		return true
	})
	if err != nil {
		t.Errorf("concurrent write: %v", err)
	}
}

// writingCloud writes the target's state during the executor's first live
// read (between its read of the state and its write-ahead record) or
// during Apply (between the write-ahead record and the outcome).
type writingCloud struct {
	*simcloud.Local
	store          *scaler.Store
	t              *testing.T
	duringRead     bool
	reads, applies atomic.Int32
}

func (c *writingCloud) Current(ctx context.Context, tg providers.Target) (providers.Spec, error) {
	if c.reads.Add(1) == 1 && c.duringRead {
		anotherWriter(c.t, ctx, c.store, tg)
	}
	return c.Local.Current(ctx, tg)
}

func (c *writingCloud) Apply(ctx context.Context, ch providers.Change) (providers.Result, error) {
	if c.applies.Add(1) == 1 && !c.duringRead {
		anotherWriter(c.t, ctx, c.store, ch.Target)
	}
	return c.Local.Apply(ctx, ch)
}

// When another writer gets in before the write-ahead record, the executor
// goes through its checks again at once (the intent is not handed back to
// JetStream); when it gets in before the outcome, the executor reads the
// state again instead of writing over the revision it wrote ahead. Either
// way the change is applied once and the other writer's change is kept.
func TestExecutorWritesAroundAConcurrentWriter(t *testing.T) {
	for _, duringRead := range []bool{true, false} {
		name := map[bool]string{true: "before the write-ahead record", false: "before the outcome"}[duringRead]
		t.Run(name, func(t *testing.T) { executorAroundWriter(t, duringRead) })
	}
}

func executorAroundWriter(t *testing.T, duringRead bool) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, err := scaler.StartEmbedded(config.Embedded{DataDir: filepath.Join(t.TempDir(), "data"), SyncInterval: "2m",
		MaxMemory: 64 << 20, MaxStore: 10 << 30}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	nc, err := scaler.Connect(config.NATS{}, ns, "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bus, err := scaler.OpenBus(ctx, nc, scaler.BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := &scaler.Store{KV: bus.State}
	cloud, err := simcloud.New(simcloud.Rules{TokenMemory: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	target := providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "web-1"}
	if err := cloud.Put(simcloud.Instance{ID: "web-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}); err != nil {
		t.Fatal(err)
	}
	prov := &writingCloud{Local: &simcloud.Local{Cloud: cloud}, store: store, t: t, duringRead: duringRead}
	p := &policy.Policy{Name: "web", Min: 1, Max: 100}
	rt := &scaler.Runtime{
		Accounts: map[string]*scaler.Account{"sim": {Name: "sim", Provider: prov, Caps: prov.Capabilities(),
			Limiter: rate.NewLimiter(rate.Inf, 1), Timeout: 5 * time.Second}},
		Policies: map[string]*policy.Policy{"web": p},
		Owner:    map[string]*policy.Policy{target.Key(): p},
		Executor: config.Executor{MaxAttempts: 3, BackoffInitial: 50 * time.Millisecond, BackoffMax: time.Second,
			IntentTTL: time.Minute, AckWait: 30 * time.Second},
	}
	log := zaptest.NewLogger(t)
	x := &scaler.Executor{Bus: bus, Store: store, Events: &scaler.Events{JS: bus.JS, Log: log}, Log: log,
		Runtime: func() *scaler.Runtime { return rt }, Now: time.Now, Workers: 1, Grace: 5 * time.Second}
	xctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = x.Run(xctx) }()
	defer func() { stop(); <-done }()

	now := time.Now()
	in := &scaler.Intent{ID: scaler.IntentID(target, scaler.KindManual, 20, "", now), Target: target, Value: 20,
		Kind: scaler.KindManual, Policy: "web", Reason: "test", CreatedAt: now, NotAfter: now.Add(time.Minute)}
	if err := scaler.PublishIntent(ctx, bus.JS, in); err != nil {
		t.Fatal(err)
	}
	var st *scaler.TargetState
	waitFor(t, 20*time.Second, "the outcome in KV", func() bool {
		st, _, err = store.Get(ctx, target)
		return err == nil && st.Outcome != nil && st.Outcome.IntentID == in.ID
	})
	if st.Outcome.Result != string(scaler.EventApplied) || st.Value != 20 || st.Pending != nil {
		t.Errorf("state = outcome %+v, value %v, pending %+v; want applied, 20, none", st.Outcome, st.Value, st.Pending)
	}
	if st.Boost == nil || st.Boost.ID != "another-writer" {
		t.Errorf("boost = %+v: the other writer's change was lost", st.Boost)
	}
	if n := len(cloud.Ledger()); n != 1 {
		t.Errorf("%d changes in the cloud, want 1", n)
	}
	if duringRead {
		if n := prov.reads.Load(); n != 2 {
			t.Errorf("%d live reads, want 2: the checks run again after the conflict", n)
		}
		cons, err := bus.Intents.Consumer(ctx, scaler.ExecutorName)
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := info.Delivered.Consumer; n != 1 {
			t.Errorf("the intent was delivered %d times, want once: the executor retries in place", n)
		}
	}
}
