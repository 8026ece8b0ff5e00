package scaler_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// secondsSpec is a six-field cron spec (seconds first) firing daily at t's
// wall time in UTC.
func secondsSpec(t time.Time) string {
	u := t.UTC()
	return fmt.Sprintf("CRON_TZ=UTC %d %d %d * * *", u.Second(), u.Minute(), u.Hour())
}

func ledgerOf(c *simcloud.Cloud, instance string) []simcloud.Entry {
	var out []simcloud.Entry
	for _, e := range c.Ledger() {
		if e.Instance == instance {
			out = append(out, e)
		}
	}
	return out
}

// A window that opens a few seconds into the test brings web-1 down in
// the simulated cloud at its start; web-2, locked by the provider past
// the start, waits for the lock with an event saying so and then comes
// down too. At the window's end both are back under the policy, which
// raises them step by step to where utilisation sits in its dead band.
func TestDaemonScheduleWindowEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	const pol = `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1, web-2]}
    metric:
      synthetic: {base: 30}       # utilisation 0.6 at 50: the dead band
    evaluation_interval: 1s
    min: 5
    max: 100
    up:   {threshold: 0.8, for: 1s, step: 50%}
    down: {threshold: 0.4, for: 1s}
`
	writeFiles(t, dir, webConfig(dir, pol))
	cloud := newCloud(t, time.Second,
		simcloud.Instance{ID: "web-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 50}},
		simcloud.Instance{ID: "web-2", Values: map[providers.Resource]float64{providers.BandwidthOut: 50}})
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	el := watchEvents(t, td.d.Bus().NC)

	// The schedule arrives with a reload of the policy file, and opens a
	// few seconds later. web-2 gets a provider lock that ends 3s into the
	// window; the reload's reconcile pass reads it into state.
	start := time.Now().Add(4 * time.Second).Truncate(time.Second)
	end := start.Add(8 * time.Second)
	if err := cloud.Put(simcloud.Instance{ID: "web-2", Values: map[providers.Resource]float64{providers.BandwidthOut: 50}, LockedUntil: start.Add(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"policies.yaml": pol + fmt.Sprintf(`    schedules:
      - name: quiet
        start: %q
        end: %q
        max: 20
`, secondsSpec(start), secondsSpec(end))})
	if err := td.d.Reload(context.Background()); err != nil {
		td.stop(t)
		t.Fatal(err)
	}

	// After the window both are back at 45: 20 → 30 (utilisation 1.0)
	// → 45 (0.67, the dead band).
	waitFor(t, 40*time.Second, "both targets back at 45 after the window", func() bool {
		l1, l2 := ledgerOf(cloud, "web-1"), ledgerOf(cloud, "web-2")
		return len(l1) >= 3 && l1[len(l1)-1].To == 45 && len(l2) >= 3 && l2[len(l2)-1].To == 45
	})
	time.Sleep(2 * time.Second) // nothing more follows
	el.sub.Unsubscribe()
	td.stop(t)

	type step struct{ from, to float64 }
	for _, inst := range []string{"web-1", "web-2"} {
		l := ledgerOf(cloud, inst)
		var got []step
		for _, e := range l {
			got = append(got, step{e.From, e.To})
		}
		want := []step{{50, 20}, {20, 30}, {30, 45}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s ledger = %v, want %v", inst, got, want)
		}
		// Down inside the window, up only after it.
		if down := l[0].At; down.Before(start) || !down.Before(end) {
			t.Errorf("%s went down at %s, outside the window %s–%s", inst, down.Format(time.RFC3339Nano), start.Format(time.RFC3339), end.Format(time.RFC3339))
		}
		if up := l[1].At; up.Before(end) {
			t.Errorf("%s went up at %s, before the window ended at %s", inst, up.Format(time.RFC3339Nano), end.Format(time.RFC3339))
		}
	}
	if l := ledgerOf(cloud, "web-2"); l[0].At.Before(start.Add(3 * time.Second)) {
		t.Errorf("web-2 went down at %s, inside its provider lock", l[0].At.Format(time.RFC3339Nano))
	}

	// The audit trail says why.
	if e := el.find(scaler.EventWindowOpened, "schedule quiet (window max 20) open from"); e == nil || e.Policy != "web" {
		t.Errorf("no window-opened event: %+v", e)
	}
	if e := el.find(scaler.EventWindowClosed, "schedule quiet closed"); e == nil {
		t.Error("no window-closed event")
	}
	if e := el.find(scaler.EventDecision, "value 50 above the maximum 20 set by schedule quiet"); e == nil || e.Kind != scaler.KindSchedule {
		t.Errorf("schedule decision event = %+v, want kind schedule", e)
	}
	blocked := el.find(scaler.EventBlocked, "value 50 above the maximum 20 set by schedule quiet; waiting: provider_lock until")
	if blocked == nil || blocked.Target != "sim/bandwidth_out/web-2" {
		t.Errorf("blocked event = %+v, want web-2 waiting for the provider lock", blocked)
	}
	el.mu.Lock()
	defer el.mu.Unlock()
	for _, e := range el.events {
		if e.Type == scaler.EventDecision && e.To != nil && *e.To > 20 && e.Kind != scaler.KindScaleUp {
			t.Errorf("a raise after the window was not the policy's own: %+v", e)
		}
		if e.Type == scaler.EventDecision && strings.Contains(e.Reason, "schedule") && e.At.Before(start) {
			t.Errorf("a schedule decision before the window: %+v", e)
		}
	}
}

// The daemon publishes each schedule's next fires to NATS, where status
// reads them.
func TestDaemonPublishesSchedulePlans(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, webConfig(dir, `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {source: pushed}
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
    schedules:
      - name: night-cap
        start: "CRON_TZ=Asia/Shanghai 0 1 * * *"
        end: "0 7 * * *"
        max: 10
`))
	cloud := newCloud(t, 0, simcloud.Instance{ID: "web-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	ctx := context.Background()
	var plans []scaler.SchedulePlan
	waitFor(t, 20*time.Second, "the schedule's plan", func() bool {
		kv, err := td.d.Bus().JS.KeyValue(ctx, scaler.ScheduleBucket)
		if err != nil {
			return false
		}
		plans, err = scaler.SchedulePlans(ctx, kv)
		return err == nil && len(plans) == 1
	})
	p := plans[0]
	if p.Policy != "web" || p.Schedule != "night-cap" || p.Timezone != "Asia/Shanghai" || len(p.Next) != 3 {
		t.Fatalf("plan = %+v", p)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	for i, f := range p.Next {
		at, end := f.At.In(sh), f.End.In(sh)
		if at.Hour() != 1 || at.Minute() != 0 || end.Hour() != 7 || end.Sub(at) != 6*time.Hour {
			t.Errorf("fire %d = %s until %s, want 01:00 until 07:00 Asia/Shanghai", i, at, end)
		}
		if i > 0 && f.At.Sub(p.Next[i-1].At) != 24*time.Hour {
			t.Errorf("fire %d is %s after the one before, want a day", i, f.At.Sub(p.Next[i-1].At))
		}
	}
	var b strings.Builder
	if err := scaler.WriteSchedulesTable(&b, plans, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "night-cap") || !strings.Contains(out, "01:00 CST until 07:00") {
		t.Errorf("schedules table:\n%s", out)
	}
}
