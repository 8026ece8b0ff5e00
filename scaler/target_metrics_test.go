package scaler

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// gathered returns name{target} → value for the per-target gauges.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetGauge() == nil {
				continue
			}
			labels := ""
			for _, lp := range m.GetLabel() {
				labels += lp.GetName() + "=" + lp.GetValue() + ","
			}
			out[mf.GetName()+"{"+labels+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

// The per-target gauges come from the runners at scrape time: a target is
// exported once its value is known, with the values its last evaluation
// stored.
func TestTargetMetricsReadTheRunners(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	p := &policy.Policy{Name: "web"}
	known := &targetRun{key: "sim/bandwidth_out/web-1", t: providers.Target{Instance: "web-1"}}
	known.gauges.value.Store(20)
	known.gauges.util.Store(0.5)
	known.gauges.cooldown.Store(30)
	known.gauges.downgrades.Store(-1)
	known.gauges.set.Store(true)
	unknown := &targetRun{key: "sim/bandwidth_out/web-2"}
	e := &Engine{runners: map[string]*runner{"web": {p: p, targets: []*targetRun{known, unknown}}}}

	if got := gathered(t, reg); len(got) != 0 {
		t.Fatalf("before an engine is attached: %v, want no gauges", got)
	}
	m.attach(e)
	got := gathered(t, reg)
	const l = "{policy=web,target=sim/bandwidth_out/web-1,}"
	want := map[string]float64{
		"specscale_target_value" + l:               20,
		"specscale_target_utilisation" + l:         0.5,
		"specscale_cooldown_remaining_seconds" + l: 30,
		"specscale_downgrades_left" + l:            -1,
	}
	if len(got) != len(want) {
		t.Fatalf("gauges = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
