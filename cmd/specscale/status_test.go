package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/specscale/specscale/scaler"
)

const statusConfig = `
http: {listen: "127.0.0.1:0"}
nats:
  embedded: {data_dir: %q, listen: "127.0.0.1:0"}
sources:
  - {name: pushed, type: nats}
providers:
  - name: sim
    type: simulated
    options:
      lock: 10m
      downgrades_per_cycle: 3
      instances:
        - {id: web-1, values: {bandwidth_out: 10}}
        - {id: web-2, values: {bandwidth_out: 10}}
        - {id: api-1, values: {bandwidth_out: 40}}
policies: [policies.yaml]
`

const statusPolicies = `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1, web-2]}
    metric: {source: pushed}
    evaluation_interval: 1h
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10, cooldown: 30m}
    down: {threshold: 0.2, for: 1h, cooldown: 5m}
  - name: api
    targets: {provider: sim, resource: bandwidth_out, instances: [api-1]}
    metric: {source: pushed}
    evaluation_interval: 1h
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
`

// status reads a running daemon through NATS alone: a scale-up made by the
// daemon shows in the table and in the JSON, with its cooldowns and the
// downgrades left.
func TestStatusReadsTheRunningDaemon(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	for name, content := range map[string]string{
		"specscale.yaml": fmt.Sprintf(statusConfig, filepath.Join(dir, "data")),
		"policies.yaml":  statusPolicies,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := scaler.New(scaler.Options{ConfigPath: filepath.Join(dir, "specscale.yaml"), Log: zaptest.NewLogger(t), Replica: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("daemon did not stop within 60s")
		}
	}()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("daemon not ready within 60s")
	}

	nc, err := nats.Connect(d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	applied := make(chan scaler.Event, 1)
	sub, err := nc.Subscribe("specscale.events.applied.>", func(m *nats.Msg) {
		var e scaler.Event
		if json.Unmarshal(m.Data, &e) == nil {
			applied <- e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("specscale.metrics.sim/bandwidth_out/web-1", []byte(`{"value": 9.5}`)); err != nil {
		t.Fatal(err)
	}
	var e scaler.Event
	select {
	case e = <-applied:
	case <-time.After(30 * time.Second):
		t.Fatal("no applied event within 30s")
	}
	if e.Target != "sim/bandwidth_out/web-1" || *e.To != 20 {
		t.Fatalf("applied event = %+v, want web-1 → 20", e)
	}

	// The table: one line per target, sorted, aligned; the scale-up with
	// its reason; the 30m up cooldown outlasts the 10m lock, which holds
	// downs; no downgrade used of 3.
	out, errOut, code := run("status", "--nats", d.NATSURL())
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^TARGET                   POLICY  VALUE  DESIRED  LAST CHANGE +COOLDOWN +DOWNGRADES LEFT  BOOST$`),
		regexp.MustCompile(`^sim/bandwidth_out/api-1  api     40     –        – +– +3 of 3 +–$`),
		regexp.MustCompile(`^sim/bandwidth_out/web-1  web     20     20       10→20 scale_up \d+s ago +up (30m|29m\d+s), down (10m|9m\d+s) +3 of 3 +–$`),
		regexp.MustCompile(`^  reason: utilisation 0\.95 .*above .*0\.8`),
		regexp.MustCompile(`^sim/bandwidth_out/web-2  web     10     –        – +– +3 of 3 +–$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("status printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d = %q\nwant match %s", i, lines[i], re)
		}
	}
	if w := len([]rune(lines[2])); w > 120 {
		t.Errorf("a target line is %d columns wide, more than 120: %q", w, lines[2])
	}

	// The JSON, filtered to one policy.
	out, errOut, code = run("status", "--nats", d.NATSURL(), "--output", "json", "--policy", "web")
	if code != 0 {
		t.Fatalf("status --output json: exit %d: %s", code, errOut)
	}
	var rows []scaler.StatusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("status --output json printed %q: %v", out, err)
	}
	if len(rows) != 2 || rows[0].Target != "sim/bandwidth_out/web-1" || rows[1].Target != "sim/bandwidth_out/web-2" {
		t.Fatalf("rows = %+v, want web-1 and web-2", rows)
	}
	r := rows[0]
	switch {
	case r.Policy != "web" || r.Value == nil || *r.Value != 20 || r.Desired == nil || r.Desired.Value != 20:
		t.Errorf("web-1: policy %q value %v desired %+v", r.Policy, r.Value, r.Desired)
	case r.LastChange == nil || r.LastChange.From != 10 || r.LastChange.To != 20 || r.LastChange.Kind != "scale_up" || r.LastChange.IntentID != e.IntentID:
		t.Errorf("web-1 last change = %+v", r.LastChange)
	case r.CooldownUp == nil || r.CooldownUp.By != scaler.HeldByPolicyCooldown || !r.CooldownUp.Until.Equal(r.LastChange.At.Add(30*time.Minute)):
		t.Errorf("web-1 up cooldown = %+v", r.CooldownUp)
	case r.CooldownDown == nil || r.CooldownDown.By != scaler.HeldByProviderLock || r.LockedUntil == nil || !r.CooldownDown.Until.Equal(*r.LockedUntil):
		t.Errorf("web-1 down cooldown = %+v, locked until %v", r.CooldownDown, r.LockedUntil)
	case r.DowngradesLeft == nil || *r.DowngradesLeft != 3 || r.DowngradeLimit != 3 || r.CycleEnd == nil:
		t.Errorf("web-1 downgrades: left %v of %d, cycle end %v", r.DowngradesLeft, r.DowngradeLimit, r.CycleEnd)
	case r.LatestEvent == nil || r.LatestEvent.Type != scaler.EventApplied || r.LatestEvent.IntentID != e.IntentID:
		t.Errorf("web-1 latest event = %+v, want the applied event", r.LatestEvent)
	case r.Boost != nil || r.LastError != nil:
		t.Errorf("web-1 boost %+v, last error %+v", r.Boost, r.LastError)
	}
	if r := rows[1]; r.LastChange != nil || r.CooldownUp != nil || r.Desired != nil || r.Value == nil || *r.Value != 10 {
		t.Errorf("web-2 = %+v", r)
	}

	out, _, code = run("status", "--nats", d.NATSURL(), "--output", "json", "--target", "sim/bandwidth_out/api")
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 1 || rows[0].Target != "sim/bandwidth_out/api-1" {
		t.Errorf("--target sim/bandwidth_out/api: exit %d, %q", code, out)
	}
	out, _, code = run("status", "--nats", d.NATSURL(), "--output", "json", "--policy", "nope")
	if code != 0 || out != "[]\n" {
		t.Errorf("--policy nope: exit %d, %q, want []", code, out)
	}
}

func TestStatusErrors(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a bad output format", []string{"status", "--nats", ns.ClientURL(), "--output", "yaml"}, `--output "yaml": want table or json`},
		{"a server without specscale", []string{"status", "--nats", ns.ClientURL()},
			ns.ClientURL() + " has no bucket specscale_state: has specscale run against this server?"},
		{"no server", []string{"status", "--nats", "nats://127.0.0.1:1", "--timeout", "2s"}, "connect to nats://127.0.0.1:1: nats: no servers available for connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(tt.args...)
			if code != 1 || out != "" || errOut != tt.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, stderr %q", code, out, errOut, tt.want)
			}
		})
	}
}
