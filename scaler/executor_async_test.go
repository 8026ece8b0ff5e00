package scaler_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// End to end, the bug TestCheckGuardsPresentValueWhileAnAsyncChangeIsProcessingIsNotANoop
// shows in guards.go: on an asynchronous provider, an operator sets a
// target 10 → 20 and, while that order is processing, back to 10. The
// second intent is dropped as "target already at 10", the first order
// lands, and the target ends at 20 — not what the latest intent asked for.
func TestExecutorLatestIntentWinsOverAnAsyncChangeInFlight(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, webConfig(dir, `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {source: pushed}
    evaluation_interval: 1h
    min: 5
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
`))
	rules := simcloud.DefaultRules()
	rules.Lock, rules.AsyncDelay = 0, 2*time.Second
	cloud, err := simcloud.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Put(simcloud.Instance{ID: "web-1", Status: "Running", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}); err != nil {
		t.Fatal(err)
	}
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	nc, err := nats.Connect(td.d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	el := watchEvents(t, nc)
	defer el.sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	tgt := providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "web-1"}
	manual := func(v float64) *scaler.Intent {
		now := time.Now()
		in := &scaler.Intent{ID: scaler.IntentID(tgt, scaler.KindManual, v, "", now), Target: tgt, Value: v, Kind: scaler.KindManual,
			Policy: "web", Reason: "operator", CreatedAt: now, NotAfter: now.Add(time.Minute)}
		if err := scaler.PublishIntent(context.Background(), td.d.Bus().JS, in); err != nil {
			t.Fatal(err)
		}
		return in
	}
	up := manual(20)
	waitFor(t, 10*time.Second, "the 10 → 20 order accepted", func() bool {
		for _, e := range el.of(scaler.EventScheduled, tgt.Key()) {
			if e.IntentID == up.ID {
				return true
			}
		}
		return false
	})
	back := manual(10)
	live := func() float64 {
		spec, aerr := cloud.Current(tgt)
		if aerr != nil {
			t.Fatal(aerr)
		}
		return spec.Value
	}
	// Past the first order's landing, the latest intent must win.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !(live() == 10 && len(cloud.Ledger()) == 2) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, e := range el.of(scaler.EventDroppedNoop, tgt.Key()) {
		if e.IntentID == back.ID {
			t.Errorf("the intent back to 10 was dropped as a no-op while 10 → 20 was processing: %q", e.Reason)
		}
	}
	if v := live(); v != 10 {
		t.Errorf("web-1 ends at %g, want 10 (the latest intent); ledger %+v", v, cloud.Ledger())
	}
}
