package scaler_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// of returns the collected events of one type for one target.
func (el *eventLog) of(typ scaler.EventType, target string) []scaler.Event {
	el.mu.Lock()
	defer el.mu.Unlock()
	var out []scaler.Event
	for _, e := range el.events {
		if e.Type == typ && e.Target == target {
			out = append(out, e)
		}
	}
	return out
}

// Dry run, per policy and per provider account: evaluation, intents,
// guards and events all run, marked would_apply, and the cloud is never
// written to; a normal policy beside them writes as usual.
func TestDryRunPerPolicyAndPerAccount(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"specscale.yaml": fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
nats:
  embedded: {data_dir: %q, listen: "127.0.0.1:0"}
sources:
  - {name: pushed, type: nats}
providers:
  - {name: live, type: simulated, write_rate: 100}
  - {name: dry, type: simulated, write_rate: 100, dry_run: true}
executor: {workers: 2, backoff_initial: 100ms, backoff_max: 1s}
policies: [policies.yaml]
`, filepath.Join(dir, "data")),
		"policies.yaml": `
policies:
  - name: watched
    dry_run: true
    targets: {provider: live, resource: bandwidth_out, instances: [l-dry]}
    metric: {source: pushed}
    evaluation_interval: 1h
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
  - name: on-dry-account
    targets: {provider: dry, resource: bandwidth_out, instances: [d-1]}
    metric: {source: pushed}
    evaluation_interval: 1h
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
  - name: trusted
    targets: {provider: live, resource: bandwidth_out, instances: [l-live]}
    metric: {source: pushed}
    evaluation_interval: 1h
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
`,
	})
	at10 := func(id string) simcloud.Instance {
		return simcloud.Instance{ID: id, Status: "Running", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}
	}
	live := newCloud(t, time.Second, at10("l-dry"), at10("l-live"))
	dry := newCloud(t, time.Second, at10("d-1"))
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{
		"live": &simcloud.Local{Cloud: live}, "dry": &simcloud.Local{Cloud: dry}})
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
	const (
		lDry  = "live/bandwidth_out/l-dry"
		lLive = "live/bandwidth_out/l-live"
		d1    = "dry/bandwidth_out/d-1"
	)
	// 9.5 Mbit/s on 10: utilisation 0.95, above 0.8 — every policy wants 20.
	for _, key := range []string{lDry, d1, lLive} {
		if err := nc.Publish(scaler.MetricPrefix+key, []byte(`{"value": 9.5}`)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "would_apply for both dry-run targets and applied for the trusted one", func() bool {
		return len(el.of(scaler.EventWouldApply, lDry)) > 0 && len(el.of(scaler.EventWouldApply, d1)) > 0 && len(el.of(scaler.EventApplied, lLive)) > 0
	})
	// Room for a stray write to show.
	time.Sleep(time.Second)

	for _, tt := range []struct{ target, policy string }{{lDry, "watched"}, {d1, "on-dry-account"}} {
		for _, e := range el.of(scaler.EventWouldApply, tt.target) {
			if !e.DryRun || e.Policy != tt.policy || e.Kind != scaler.KindScaleUp || e.From == nil || *e.From != 10 || e.To == nil || *e.To != 20 || e.IntentID == "" {
				t.Errorf("%s: would_apply event %+v, want dry_run, policy %s, scale_up 10 → 20", tt.target, e, tt.policy)
			}
		}
		for _, typ := range []scaler.EventType{scaler.EventApplied, scaler.EventScheduled, scaler.EventFailed, scaler.EventRefused} {
			if es := el.of(typ, tt.target); len(es) > 0 {
				t.Errorf("%s: %d %s events in a dry run: %+v", tt.target, len(es), typ, es)
			}
		}
		if es := el.of(scaler.EventDecision, tt.target); len(es) == 0 {
			t.Errorf("%s: no decision event: the evaluator must run in a dry run", tt.target)
		}
	}

	// The dry-run account's cloud was never written to.
	if l := dry.Ledger(); len(l) != 0 {
		t.Errorf("dry-run account ledger: %+v, want empty", l)
	}
	if s := dry.Stats(); s.Writes != 0 {
		t.Errorf("dry-run account: %d write calls, want 0", s.Writes)
	}
	// The live account took exactly the trusted policy's change, once.
	applied := el.of(scaler.EventApplied, lLive)
	if len(applied) != 1 || applied[0].DryRun {
		t.Fatalf("applied events for %s: %+v, want one, not a dry run", lLive, applied)
	}
	if l := live.Ledger(); len(l) != 1 || l[0].Instance != "l-live" || l[0].From != 10 || l[0].To != 20 || l[0].Token != applied[0].IntentID {
		t.Errorf("live account ledger: %+v, want only l-live 10 → 20 by intent %s", l, applied[0].IntentID)
	}
	if s := live.Stats(); s.Writes != 1 || len(s.WritesByToken) != 1 || s.WritesByToken[applied[0].IntentID] != 1 {
		t.Errorf("live account: %d writes %v, want one, for intent %s", s.Writes, s.WritesByToken, applied[0].IntentID)
	}

	// State records the dry run's outcome and nothing of a change.
	store := &scaler.Store{KV: td.d.Bus().State}
	for _, key := range []string{lDry, d1} {
		tgt, _ := providers.ParseKey(key)
		st, _, err := store.Get(context.Background(), tgt)
		if err != nil {
			t.Fatal(err)
		}
		if st.Value != 10 || st.LastChange != nil || st.Pending != nil || st.Desired != nil || st.Outcome == nil || st.Outcome.Result != string(scaler.EventWouldApply) {
			t.Errorf("%s state: value %g, last change %+v, pending %+v, desired %+v, outcome %+v; want 10, no change, outcome would_apply",
				key, st.Value, st.LastChange, st.Pending, st.Desired, st.Outcome)
		}
	}
}
