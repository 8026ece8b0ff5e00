package scaler_test

import (
	"context"
	"path/filepath"
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

// writingCloud writes the target's state in KV while Apply runs, as
// another writer (the boost engine, a second replica's reconciler) may.
type writingCloud struct {
	*simcloud.Local
	store *scaler.Store
	t     *testing.T
}

func (c *writingCloud) Apply(ctx context.Context, ch providers.Change) (providers.Result, error) {
	_, _, err := c.store.Modify(ctx, ch.Target, func(st *scaler.TargetState) bool {
		st.Boost = &scaler.Boost{ID: "another-writer", Value: 30, Until: time.Now().Add(time.Hour)}
		return true
	})
	if err != nil {
		c.t.Errorf("concurrent write: %v", err)
	}
	return c.Local.Apply(ctx, ch)
}

// The executor records an applied intent over the revision it wrote
// ahead of the call, without reading the state again; when another writer
// got there in between, it reads again and keeps that writer's change.
func TestExecutorRecordsOverAConcurrentWrite(t *testing.T) {
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
	prov := &writingCloud{Local: &simcloud.Local{Cloud: cloud}, store: store, t: t}
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
}
