package scaler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

const testToken = "am-test-token-0123456789"

// boostFiles is a daemon config with the Alertmanager webhook and a
// policy with boost rules. The synthetic metric idles at 5 Mbit/s: at 10
// the targets sit in the dead band, and the policy would want 9 (5 ÷ 0.6,
// rounded up) if asked afresh. Its own scale-down waits an hour, so that
// only the end of a boost brings a target down within a test.
func boostFiles(dir string, rules string) map[string]string {
	return map[string]string{
		"token": testToken + "\n",
		"specscale.yaml": fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
log: {level: debug}
nats:
  embedded: {data_dir: %q, listen: "127.0.0.1:0"}
hooks:
  alertmanager:
    token: {file: %q}
    max_body_bytes: 4096
providers:
  - {name: sim, type: simulated, write_rate: 100}
executor: {workers: 2, backoff_initial: 100ms, backoff_max: 1s}
policies: [policies.yaml]
`, filepath.Join(dir, "data"), filepath.Join(dir, "token")),
		"policies.yaml": `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1, web-2]}
    metric: {synthetic: {base: 5}}
    evaluation_interval: 1s
    min: 5
    max: 100
    up:   {threshold: 0.8, for: 1s, step: 100%}
    down: {threshold: 0.4, for: 1h, stabilization: 1s}
    boosts:
` + rules,
	}
}

const defaultRules = `
      - name: ddos
        matchers: ['alertname="DDoSSuspected"', 'severity=~"critical|page"']
        targets: {label: instance}
        to: max
        for: 6s
        end_on_resolve: true
      - name: surge
        matchers: ['alertname="TrafficSurge"']
        targets: {instances: [web-2]}
        to: 2x
        for: 3s
`

func twoInstances() []simcloud.Instance {
	return []simcloud.Instance{
		{ID: "web-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}},
		{ID: "web-2", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}},
	}
}

func post(t *testing.T, url, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// notification builds a version 4 payload.
func notification(status string, alerts ...scaler.Alert) []byte {
	n := scaler.Notification{Version: "4", GroupKey: "{}:{}", Status: status, Receiver: "specscale", Alerts: alerts}
	b, _ := json.Marshal(n)
	return b
}

func alert(status, fp string, startsAt time.Time, labels ...string) scaler.Alert {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	a := scaler.Alert{Status: status, Labels: l, StartsAt: startsAt, Fingerprint: fp}
	if status == scaler.StatusResolved {
		a.EndsAt = time.Now()
	}
	return a
}

func state(t *testing.T, d *scaler.Daemon, key string) *scaler.TargetState {
	t.Helper()
	tg, err := providers.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := (&scaler.Store{KV: d.Bus().State}).Get(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func ledgerFor(c *simcloud.Cloud, inst string) []simcloud.Entry {
	var out []simcloud.Entry
	for _, e := range c.Ledger() {
		if e.Instance == inst {
			out = append(out, e)
		}
	}
	return out
}

func valueOf(c *simcloud.Cloud, inst string) float64 {
	for _, in := range c.Instances() {
		if in.ID == inst {
			return in.Values[providers.BandwidthOut]
		}
	}
	return -1
}

func (el *eventLog) count(typ scaler.EventType, target string) int {
	el.mu.Lock()
	defer el.mu.Unlock()
	n := 0
	for _, e := range el.events {
		if e.Type == typ && (target == "" || e.Target == target) {
			n++
		}
	}
	return n
}

// The webhook refuses what it must before anything changes: no or a
// wrong token (401), a body over the limit (413), a malformed or
// wrong-version payload (400, saying why).
func TestAlertmanagerWebhookRefusals(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, boostFiles(dir, defaultRules))
	cloud := newCloud(t, 0, twoInstances()...)
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	url := "http://" + td.d.HTTPAddr() + scaler.AlertmanagerPath
	firing := notification(scaler.StatusFiring, alert(scaler.StatusFiring, "f1", time.Now(), "alertname", "DDoSSuspected", "severity", "page", "instance", "web-1"))
	big := notification(scaler.StatusFiring, alert(scaler.StatusFiring, "f1", time.Now(), "alertname", "DDoSSuspected", "severity", "page",
		"instance", "web-1", "padding", strings.Repeat("x", 5000)))

	tests := []struct {
		name     string
		token    string
		body     []byte
		code     int
		contains string
	}{
		{"no token", "", firing, 401, "missing or wrong bearer token"},
		{"wrong token", "not-the-token", firing, 401, "missing or wrong bearer token"},
		{"too large", testToken, big, 413, "larger than 4096 bytes"},
		{"not json", testToken, []byte(`{"version": "4", "alerts": [`), 400, "malformed notification: invalid JSON: unexpected EOF"},
		{"trailing data", testToken, append(firing, []byte(`{}`)...), 400, "malformed notification: invalid JSON: data after the notification"},
		{"wrong type", testToken, []byte(`{"version": "4", "status": "firing", "alerts": {}}`), 400,
			"malformed notification: invalid JSON: json: cannot unmarshal object into Go struct field Notification.alerts of type []scaler.Alert"},
		{"version 3", testToken, []byte(`{"version": "3", "status": "firing", "alerts": []}`), 400, `malformed notification: version "3": want "4"`},
		{"no fingerprint", testToken, []byte(`{"version": "4", "status": "firing", "alerts": [{"status": "firing", "startsAt": "2026-01-01T00:00:00Z"}]}`), 400,
			"malformed notification: alerts[0].fingerprint: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, url, tt.token, tt.body)
			if code != tt.code || !strings.Contains(body, tt.contains) {
				t.Errorf("got %d %q, want %d containing %q", code, body, tt.code, tt.contains)
			}
		})
	}
	// Nothing changed: no boost recorded, no change in the cloud.
	if st := state(t, td.d, "sim/bandwidth_out/web-1"); st.Boost != nil {
		t.Errorf("a refused request recorded a boost: %+v", st.Boost)
	}
	time.Sleep(500 * time.Millisecond)
	if l := cloud.Ledger(); len(l) != 0 {
		t.Errorf("a refused request changed the cloud: %+v", l)
	}

	// And the same notification with the token is taken.
	code, body := post(t, url, testToken, firing)
	if code != 200 || !strings.Contains(body, `"outcome":"started"`) {
		t.Fatalf("with the token: %d %s", code, body)
	}
	waitFor(t, 20*time.Second, "web-1 boosted to 100", func() bool { return valueOf(cloud, "web-1") == 100 })
}

// Boost semantics through the webhook and the manual request subject: a
// boost raises, a repeat extends and never stacks, policies cannot lower a
// boosted target, the end goes to what the policy wants now (9, not the 10
// before the boost), a resolve ends an end_on_resolve boost early, a
// manual boost above the policy's max is refused, and a cancel ends one.
func TestBoostLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, boostFiles(dir, defaultRules))
	cloud := newCloud(t, 0, twoInstances()...)
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	url := "http://" + td.d.HTTPAddr() + scaler.AlertmanagerPath
	nc, err := nats.Connect(td.d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	el := watchEvents(t, nc)

	// web-2: a factor boost that expires by itself.
	start := time.Now()
	surge := notification(scaler.StatusFiring, alert(scaler.StatusFiring, "s1", start, "alertname", "TrafficSurge"))
	if code, body := post(t, url, testToken, surge); code != 200 {
		t.Fatalf("surge: %d %s", code, body)
	}
	st := state(t, td.d, "sim/bandwidth_out/web-2")
	if st.Boost == nil || st.Boost.Value != 20 || st.Boost.From != 10 || st.Boost.Native {
		t.Fatalf("boost record = %+v, want 20 from 10, daemon-reverted", st.Boost)
	}
	until := st.Boost.Until
	waitFor(t, 10*time.Second, "web-2 at 20", func() bool { return valueOf(cloud, "web-2") == 20 })
	// A repeat 1s later extends by about a second; the factor applies to
	// the value before the boost, so it does not compound to 40.
	time.Sleep(time.Second)
	if code, body := post(t, url, testToken, surge); code != 200 || !strings.Contains(body, `"outcome":"extended"`) {
		t.Fatalf("repeat: %d %s", code, body)
	}
	st = state(t, td.d, "sim/bandwidth_out/web-2")
	if st.Boost.Value != 20 || !st.Boost.Until.After(until) || len(st.Boost.Triggers) != 1 {
		t.Fatalf("after the repeat: %+v, want 20 with a later end than %s and one trigger", st.Boost, until)
	}
	until = st.Boost.Until
	// The policy wants 9 at this metric, but may not lower a boost.
	waitFor(t, 15*time.Second, "web-2 reverted", func() bool { return valueOf(cloud, "web-2") == 9 })
	l := ledgerFor(cloud, "web-2")
	if len(l) != 2 || l[0].To != 20 || l[1].From != 20 || l[1].To != 9 {
		t.Fatalf("web-2 ledger = %+v, want 10 → 20 → 9", l)
	}
	if late := l[1].At.Sub(until); late < 0 || late > 3*time.Second {
		t.Errorf("reverted %s after the boost's end %s; want within 3s after", late, until.Format(time.RFC3339Nano))
	}
	waitFor(t, 5*time.Second, "the boost_reverted event", func() bool { return el.count(scaler.EventBoostReverted, "sim/bandwidth_out/web-2") > 0 })
	if el.count(scaler.EventBoostStarted, "sim/bandwidth_out/web-2") != 1 || el.count(scaler.EventBoostExtended, "sim/bandwidth_out/web-2") != 1 ||
		el.count(scaler.EventBoostReverted, "sim/bandwidth_out/web-2") != 1 {
		t.Errorf("events: started %d, extended %d, reverted %d; want 1 each", el.count(scaler.EventBoostStarted, "sim/bandwidth_out/web-2"),
			el.count(scaler.EventBoostExtended, "sim/bandwidth_out/web-2"), el.count(scaler.EventBoostReverted, "sim/bandwidth_out/web-2"))
	}
	if st := state(t, td.d, "sim/bandwidth_out/web-2"); st.Boost != nil {
		t.Errorf("boost still recorded after its end: %+v", st.Boost)
	}

	// web-1: to max, ended early by the resolve.
	ddosStart := time.Now()
	if code, body := post(t, url, testToken, notification(scaler.StatusFiring,
		alert(scaler.StatusFiring, "d1", ddosStart, "alertname", "DDoSSuspected", "severity", "critical", "instance", "web-1"),
		alert(scaler.StatusFiring, "d2", ddosStart, "alertname", "DDoSSuspected", "severity", "critical", "instance", "db-7"))); code != 200 ||
		!strings.Contains(body, `names no target of policy \"web\"`) {
		t.Fatalf("ddos: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "web-1 at 100", func() bool { return valueOf(cloud, "web-1") == 100 })
	if code, body := post(t, url, testToken, notification(scaler.StatusResolved,
		alert(scaler.StatusResolved, "d1", ddosStart, "alertname", "DDoSSuspected", "severity", "critical", "instance", "web-1"))); code != 200 ||
		!strings.Contains(body, `"outcome":"ended_early"`) {
		t.Fatalf("resolve: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "web-1 back at 9", func() bool { return valueOf(cloud, "web-1") == 9 })
	waitFor(t, 5*time.Second, "the boost_ended_early event", func() bool { return el.find(scaler.EventBoostEndedEarly, "resolved") != nil })
	if e := el.find(scaler.EventBoostEndedEarly, "resolved"); e == nil || e.Target != "sim/bandwidth_out/web-1" {
		t.Errorf("boost_ended_early event = %+v", e)
	}
	if e := el.find(scaler.EventBoostRefused, "db-7"); e == nil {
		t.Error("no boost_refused event for the alert naming an unknown instance")
	}

	// Manual boosts over NATS: the same rules apply.
	ask := func(req scaler.ManualBoost) scaler.ManualBoostReply {
		t.Helper()
		b, _ := json.Marshal(req)
		msg, err := nc.Request(scaler.BoostRequestSubject, b, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r scaler.ManualBoostReply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := ask(scaler.ManualBoost{Target: "sim/bandwidth_out/web-1", To: "500", For: "1h", Reason: "too much"})
	if r.Result == nil || r.Result.Outcome != scaler.BoostRefused || r.Result.Why != `500 is above policy "web"'s max 100` {
		t.Errorf("boost above max: %+v", r)
	}
	r = ask(scaler.ManualBoost{Target: "sim/bandwidth_out/web-1", To: "50", For: "1h"})
	if r.Error != "a reason is required: it goes into the audit trail" {
		t.Errorf("boost without a reason: %+v", r)
	}
	r = ask(scaler.ManualBoost{Target: "sim/bandwidth_out/web-1", To: "50", For: "1h", Reason: "launch"})
	if r.Result == nil || r.Result.Outcome != scaler.BoostStarted || r.Result.Value != 50 {
		t.Fatalf("manual boost: %+v", r)
	}
	waitFor(t, 10*time.Second, "web-1 at 50", func() bool { return valueOf(cloud, "web-1") == 50 })
	r = ask(scaler.ManualBoost{Target: "sim/bandwidth_out/web-1", Cancel: true, Reason: "launch over"})
	if r.Result == nil || r.Result.Outcome != scaler.BoostEndedEarly {
		t.Fatalf("cancel: %+v", r)
	}
	waitFor(t, 10*time.Second, "web-1 back at 9", func() bool { return valueOf(cloud, "web-1") == 9 })
	waitFor(t, 5*time.Second, "the boost_ended_early event of the cancel", func() bool {
		return el.find(scaler.EventBoostEndedEarly, "cancelled by an operator: launch over") != nil
	})

	// The same, counted.
	resp, err := testHTTP.Get("http://" + td.d.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`specscale_boosts_total{event="started",source="alertmanager"} 2`,
		`specscale_boosts_total{event="started",source="manual"} 1`,
		`specscale_boosts_total{event="extended",source="alertmanager"} 1`,
		`specscale_boosts_total{event="reverted",source="timer"} 1`,
		`specscale_boosts_total{event="ended_early",source="alertmanager"} 1`,
		`specscale_boosts_total{event="ended_early",source="manual"} 1`,
		`specscale_boosts_total{event="refused",source="alertmanager"} 1`,
		`specscale_boosts_total{event="refused",source="manual"} 1`,
		`specscale_boost_refusals_total{reason="above_max"} 1`,
		`specscale_boost_refusals_total{reason="invalid"} 1`,
		`specscale_boost_refusals_total{reason="not_target"} 1`,
		`specscale_webhook_requests_total{code="200"} 4`,
	} {
		if !strings.Contains(string(metrics), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	el.sub.Unsubscribe()
}

// Where the instance takes native temporary upgrades, the boost is one:
// the intent carries the window, the provider reverts at its end, and a
// repeat renews the window rather than stacking. At the end the daemon
// reads the reverted value and takes the target on to what the policy
// wants (9).
func TestNativeBoost(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, boostFiles(dir, defaultRules))
	insts := twoInstances()
	insts[1].Temporary = true
	cloud := newCloud(t, 0, insts...)
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	url := "http://" + td.d.HTTPAddr() + scaler.AlertmanagerPath
	nc, err := nats.Connect(td.d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	el := watchEvents(t, nc)
	defer el.sub.Unsubscribe()

	surge := notification(scaler.StatusFiring, alert(scaler.StatusFiring, "s1", time.Now(), "alertname", "TrafficSurge"))
	if code, body := post(t, url, testToken, surge); code != 200 || !strings.Contains(body, `"native":true`) {
		t.Fatalf("surge: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "web-2 at 20", func() bool { return valueOf(cloud, "web-2") == 20 })
	l := ledgerFor(cloud, "web-2")
	if len(l) != 1 || l[0].Temporary == nil {
		t.Fatalf("ledger = %+v, want one temporary change", l)
	}
	first := *l[0].Temporary
	time.Sleep(1100 * time.Millisecond)
	if code, body := post(t, url, testToken, surge); code != 200 || !strings.Contains(body, `"outcome":"extended"`) {
		t.Fatalf("repeat: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "a renewed window", func() bool { return len(ledgerFor(cloud, "web-2")) == 2 })
	l = ledgerFor(cloud, "web-2")
	if l[1].Temporary == nil || !l[1].Temporary.End.After(first.End) || l[1].To != 20 {
		t.Fatalf("renewal = %+v, want the same value in a window ending after %s", l[1], first.End)
	}
	st := state(t, td.d, "sim/bandwidth_out/web-2")
	if st.Boost == nil || !st.Boost.Native || !st.Boost.Until.Equal(l[1].Temporary.End) {
		t.Fatalf("boost record = %+v, want native until %s", st.Boost, l[1].Temporary.End)
	}
	waitFor(t, 15*time.Second, "web-2 at 9", func() bool { return valueOf(cloud, "web-2") == 9 })
	waitFor(t, 5*time.Second, "boost_reverted", func() bool { return el.count(scaler.EventBoostReverted, "sim/bandwidth_out/web-2") == 1 })
	if n := el.count(scaler.EventDrift, "sim/bandwidth_out/web-2"); n != 0 {
		t.Errorf("the provider's own revert was taken for drift %d time(s)", n)
	}
}

// upgradeOnly makes a provider's bandwidth upgrade-only (as Huawei AAD's
// resources are) and takes away its native temporary upgrades.
type upgradeOnly struct{ providers.Provider }

func (u upgradeOnly) Capabilities() providers.Capabilities {
	caps := u.Provider.Capabilities()
	out := providers.Capabilities{Type: caps.Type, Resources: map[providers.Resource]providers.ResourceCaps{}}
	for r, rc := range caps.Resources {
		rc.Downgrade.UpgradeOnly, rc.Temporary = true, nil
		out.Resources[r] = rc
	}
	return out
}

// A boost that could never be reverted is refused up front, saying why:
// on an upgrade-only resource, and when the billing cycle has no
// downgrade left for the revert.
func TestBoostRefusedWhenItCouldNotBeReverted(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	files := boostFiles(dir, `
      - name: surge
        matchers: ['alertname="TrafficSurge"']
        targets: {label: instance}
        to: 2x
        for: 1h
`)
	files["specscale.yaml"] = strings.Replace(files["specscale.yaml"], "providers:\n  - {name: sim, type: simulated, write_rate: 100}",
		"providers:\n  - {name: sim, type: simulated, write_rate: 100}\n  - {name: aad, type: simulated, write_rate: 100}", 1)
	files["policies.yaml"] += `
  - name: shield
    targets: {provider: aad, resource: bandwidth_out, instances: [shield-1]}
    metric: {synthetic: {base: 5}}
    evaluation_interval: 1s
    min: 5
    max: 100
    up:   {threshold: 0.8, for: 1s, step: 100%}
    down: {threshold: 0.4, for: 1h}
    boosts:
      - name: surge
        matchers: ['alertname="TrafficSurge"']
        targets: {label: instance}
        to: 2x
        for: 1h
`
	writeFiles(t, dir, files)
	rules := simcloud.DefaultRules()
	rules.Lock, rules.DowngradesPerCycle = 0, 1
	sim, err := simcloud.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range twoInstances() {
		if err := sim.Put(in); err != nil {
			t.Fatal(err)
		}
	}
	aad := newCloud(t, 0, simcloud.Instance{ID: "shield-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{
		"sim": &simcloud.Local{Cloud: sim}, "aad": upgradeOnly{&simcloud.Local{Cloud: aad}}})
	defer td.stop(t)
	url := "http://" + td.d.HTTPAddr() + scaler.AlertmanagerPath
	fire := func(fp, instance string) string {
		t.Helper()
		code, body := post(t, url, testToken, notification(scaler.StatusFiring, alert(scaler.StatusFiring, fp, time.Now(), "alertname", "TrafficSurge", "instance", instance)))
		if code != 200 {
			t.Fatalf("webhook: %d %s", code, body)
		}
		return body
	}

	if body := fire("a1", "shield-1"); !strings.Contains(body, `"outcome":"refused"`) ||
		!strings.Contains(body, "the provider cannot lower bandwidth_out (upgrade-only) and has no native temporary upgrade for it: the boost could never be reverted") {
		t.Errorf("upgrade-only: %s", body)
	}

	// One downgrade per cycle: the first boost's revert spends it, so the
	// second boost is refused.
	nc, err := nats.Connect(td.d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if body := fire("b1", "web-1"); !strings.Contains(body, `"outcome":"started"`) {
		t.Fatalf("first boost: %s", body)
	}
	waitFor(t, 10*time.Second, "web-1 at 20", func() bool { return valueOf(sim, "web-1") == 20 })
	b, _ := json.Marshal(scaler.ManualBoost{Target: "sim/bandwidth_out/web-1", Cancel: true})
	if _, err := nc.Request(scaler.BoostRequestSubject, b, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "web-1 at 9", func() bool { return valueOf(sim, "web-1") == 9 })
	waitFor(t, 10*time.Second, "the downgrade counted", func() bool {
		return state(t, td.d, "sim/bandwidth_out/web-1").Cycle.Downgrades == 1
	})
	if body := fire("b2", "web-1"); !strings.Contains(body, `"outcome":"refused"`) ||
		!strings.Contains(body, "reverting the boost needs a downgrade and none is left in the billing cycle") {
		t.Errorf("no downgrade left: %s", body)
	}
	if v := valueOf(aad, "shield-1"); v != 10 {
		t.Errorf("shield-1 at %g, want untouched 10", v)
	}
	if n := len(sim.Ledger()); n != 2 {
		t.Errorf("sim ledger has %d changes, want 2: %+v", n, sim.Ledger())
	}
}
