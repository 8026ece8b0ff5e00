package scaler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// testDaemon runs a daemon in-process until stopped.
type testDaemon struct {
	d      *scaler.Daemon
	cancel context.CancelFunc
	done   chan error
}

func (td *testDaemon) stop(t *testing.T) {
	t.Helper()
	td.cancel()
	select {
	case err := <-td.done:
		if err != nil {
			t.Errorf("daemon run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("daemon did not stop within 60s")
	}
}

// startDaemon starts a daemon on config file cfg with the given simulated
// clouds standing in for provider accounts.
func startDaemon(t *testing.T, cfg string, clouds map[string]providers.Provider) *testDaemon {
	t.Helper()
	d, err := scaler.New(scaler.Options{ConfigPath: cfg, Log: zaptest.NewLogger(t), Providers: clouds, Replica: "test"})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	td := &testDaemon{d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { td.done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-td.done:
		t.Fatalf("daemon stopped before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("daemon not ready within 60s")
	}
	return td
}

// writeFiles writes name → content under dir and returns dir/first name.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newCloud(t *testing.T, lock time.Duration, instances ...simcloud.Instance) *simcloud.Cloud {
	t.Helper()
	rules := simcloud.DefaultRules()
	rules.Lock = lock
	c, err := simcloud.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range instances {
		if err := c.Put(in); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// waitFor polls cond every 50ms until it holds or the deadline passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventLog collects the daemon's events from NATS.
type eventLog struct {
	mu     sync.Mutex
	events []scaler.Event
	sub    *nats.Subscription
}

func watchEvents(t *testing.T, nc *nats.Conn) *eventLog {
	t.Helper()
	el := &eventLog{}
	sub, err := nc.Subscribe(scaler.EventSubjects, func(m *nats.Msg) {
		var e scaler.Event
		if err := json.Unmarshal(m.Data, &e); err == nil {
			el.mu.Lock()
			el.events = append(el.events, e)
			el.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	el.sub = sub
	return el
}

func (el *eventLog) find(typ scaler.EventType, contains string) *scaler.Event {
	el.mu.Lock()
	defer el.mu.Unlock()
	for i := range el.events {
		e := el.events[i]
		if e.Type == typ && strings.Contains(e.Reason, contains) {
			return &e
		}
	}
	return nil
}

func webConfig(dir, policy string) map[string]string {
	return map[string]string{
		"specscale.yaml": fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
log: {level: debug}
nats:
  embedded: {data_dir: %q, listen: "127.0.0.1:0"}
sources:
  - {name: pushed, type: nats}
providers:
  - name: sim
    type: simulated
    write_rate: 100
executor: {workers: 2, backoff_initial: 100ms, backoff_max: 1s}
policies: [policies.yaml]
`, filepath.Join(dir, "data")),
		"policies.yaml": policy,
	}
}

// The core loop end to end: a synthetic breach gives exactly one scale-up,
// lower traffic exactly one scale-down after the stabilisation window, and
// after a restart on the same data dir the cooldown recorded before it
// still blocks a change.
func TestDaemonScalesUpThenDownAndKeepsCooldownAcrossRestart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, webConfig(dir, `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric:
      synthetic:
        base: 5
        spikes: [{start: 0s, duration: 6s, value: 15}]
    evaluation_interval: 1s
    min: 5
    max: 20
    up:   {threshold: 0.8, for: 2s, step: 100%, cooldown: 10m}
    down: {threshold: 0.4, for: 2s, stabilization: 3s, cooldown: 2s}
`))
	cloud := newCloud(t, time.Second, simcloud.Instance{ID: "web-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	clouds := map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}}

	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), clouds)
	waitFor(t, 30*time.Second, "a scale-up and a scale-down in the ledger", func() bool { return len(cloud.Ledger()) >= 2 })
	// Nothing more: the up cooldown is 10 minutes and the value sits at
	// the floor's recommendation.
	time.Sleep(3 * time.Second)
	td.stop(t)

	ledger := cloud.Ledger()
	if len(ledger) != 2 {
		t.Fatalf("ledger has %d changes, want exactly 2: %+v", len(ledger), ledger)
	}
	if up := ledger[0]; up.From != 10 || up.To != 20 || up.Downgrade {
		t.Errorf("first change = %+v, want a scale-up 10 → 20", up)
	}
	if down := ledger[1]; down.From != 20 || down.To != 9 || !down.Downgrade {
		t.Errorf("second change = %+v, want a scale-down 20 → 9 (5 ÷ 0.6, rounded up)", down)
	}
	if gap := ledger[1].At.Sub(ledger[0].At); gap < 3*time.Second {
		t.Errorf("scale-down %s after the scale-up, inside the 3s stabilisation window", gap)
	}

	// Restart on the same data dir: the synthetic spike starts again and
	// wants a scale-up, but the up cooldown recorded in KV still holds.
	td = startDaemon(t, filepath.Join(dir, "specscale.yaml"), clouds)
	el := watchEvents(t, td.d.Bus().NC)
	waitFor(t, 30*time.Second, "a blocked decision", func() bool { return el.find(scaler.EventBlocked, "cooldown") != nil })
	el.sub.Unsubscribe()
	td.stop(t)
	if n := len(cloud.Ledger()); n != 2 {
		t.Fatalf("after the restart the ledger has %d changes, want still 2: %+v", n, cloud.Ledger())
	}
}

// Samples pushed on NATS are evaluated as they arrive: with an evaluation
// interval of an hour, a decision still follows the first breach at once.
func TestDaemonEvaluatesPushedSamplesOnArrival(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, webConfig(dir, `
policies:
  - name: edge
    targets: {provider: sim, resource: bandwidth_out, instances: [edge-1, edge-2]}
    metric: {source: pushed}
    evaluation_interval: 1h
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
`))
	cloud := newCloud(t, time.Second,
		simcloud.Instance{ID: "edge-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}},
		simcloud.Instance{ID: "edge-2", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)

	nc, err := nats.Connect(td.d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	el := watchEvents(t, nc)
	if err := nc.Publish("specscale.metrics.sim/bandwidth_out/edge-2", []byte(`{"value": 9.5}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the change in the ledger", func() bool { return len(cloud.Ledger()) == 1 })
	e := el.find(scaler.EventDecision, "above 0.8")
	if e == nil || e.Target != "sim/bandwidth_out/edge-2" || *e.To != 20 {
		t.Fatalf("decision event = %+v, want edge-2 → 20", e)
	}
	if l := cloud.Ledger(); l[0].Instance != "edge-2" || l[0].To != 20 {
		t.Errorf("ledger = %+v", l)
	}
}

// A reload with a broken policy file is refused and the running config
// kept; a good one is applied.
func TestDaemonReloadRefusesABrokenConfig(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	good := `
policies:
  - name: edge
    targets: {provider: sim, resource: bandwidth_out, instances: [edge-1]}
    metric: {source: pushed}
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
`
	writeFiles(t, dir, webConfig(dir, good))
	cloud := newCloud(t, time.Second, simcloud.Instance{ID: "edge-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	reload := func() (int, string) {
		resp, err := http.Post("http://"+td.d.HTTPAddr()+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	writeFiles(t, dir, map[string]string{"policies.yaml": strings.Replace(good, "threshold: 0.8", "threshold: 0.1", 1)})
	code, body := reload()
	if code != http.StatusBadRequest || !strings.Contains(body, "policies.yaml:7:") || !strings.Contains(body, "up.threshold: 0.1 must be above down.threshold 0.2") {
		t.Fatalf("reload of a broken policy: %d %q", code, body)
	}
	if p := td.d.Runtime().Policies["edge"]; p == nil || p.Up.Threshold != 0.8 {
		t.Fatalf("running policy changed after a refused reload: %+v", p)
	}

	writeFiles(t, dir, map[string]string{"policies.yaml": strings.Replace(good, "threshold: 0.8", "threshold: 0.9", 1)})
	if code, body := reload(); code != http.StatusOK {
		t.Fatalf("reload of a good policy: %d %q", code, body)
	}
	if p := td.d.Runtime().Policies["edge"]; p == nil || p.Up.Threshold != 0.9 {
		t.Fatalf("policy after reload: %+v", p)
	}
}

// An intent refused for good is not asked for again at every evaluation.
func TestDaemonDoesNotRepeatARefusedIntent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	// The policy allows 500 but the cloud's range ends at 200.
	writeFiles(t, dir, webConfig(dir, `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {synthetic: {base: 1000}}
    evaluation_interval: 1s
    min: 100
    max: 500
    up:   {threshold: 0.8, for: 0s, step: 200%}
    down: {threshold: 0.2, for: 1h}
`))
	cloud := newCloud(t, time.Second, simcloud.Instance{ID: "web-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 150}})
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	el := watchEvents(t, td.d.Bus().NC)
	defer el.sub.Unsubscribe()
	waitFor(t, 20*time.Second, "the refusal", func() bool { return el.find(scaler.EventRefused, "provider's range") != nil })
	time.Sleep(4 * time.Second) // four more evaluations
	el.mu.Lock()
	decisions := 0
	for _, e := range el.events {
		if e.Type == scaler.EventDecision {
			decisions++
		}
	}
	el.mu.Unlock()
	if decisions != 1 {
		t.Errorf("%d decisions for a value the cloud refuses, want 1", decisions)
	}
	if n := len(cloud.Ledger()); n != 0 {
		t.Errorf("ledger has %d changes, want 0", n)
	}
}

// The executors' consumer can vanish under them (a server restart that
// loses it, an operator's mistake); they re-create it and carry on.
func TestExecutorSurvivesItsConsumerBeingDeleted(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, webConfig(dir, `
policies:
  - name: edge
    targets: {provider: sim, resource: bandwidth_out, instances: [edge-1]}
    metric: {source: pushed}
    evaluation_interval: 1h
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
`))
	cloud := newCloud(t, 0, simcloud.Instance{ID: "edge-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	nc := td.d.Bus().NC
	push := func(v float64) {
		if err := nc.Publish("specscale.metrics.sim/bandwidth_out/edge-1", []byte(fmt.Sprint(v))); err != nil {
			t.Fatal(err)
		}
	}
	push(9.5)
	waitFor(t, 20*time.Second, "the first change", func() bool { return len(cloud.Ledger()) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := td.d.Bus().JS.DeleteConsumer(ctx, scaler.IntentStream, scaler.ExecutorName); err != nil {
		t.Fatal(err)
	}
	push(19.5)
	waitFor(t, 30*time.Second, "a change after the consumer was deleted", func() bool { return len(cloud.Ledger()) == 2 })
}
