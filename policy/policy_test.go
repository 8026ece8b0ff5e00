package policy

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseGood(t *testing.T) {
	data, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps, diags := Parse("testdata/good.yaml", data)
	if len(diags) != 0 {
		t.Fatalf("diagnostics on a good file:\n%s", diags)
	}
	if len(ps) != 2 {
		t.Fatalf("got %d policies, want 2", len(ps))
	}
	web := ps[0]
	if web.Up.Step != (Step{Kind: StepPercent, Amount: 50}) || web.Down.Stabilization != 10*time.Minute {
		t.Errorf("web decoded as %+v %+v", web.Up, web.Down)
	}
	if math.Abs(web.Down.Target-0.6) > 1e-9 || web.Interval != DefaultInterval || web.Metric.Label != "instance" {
		t.Errorf("defaults not applied: target %v interval %v label %q", web.Down.Target, web.Interval, web.Metric.Label)
	}
	vm := ps[1]
	if !vm.Named() || vm.Min != 1000 || vm.Max != 4000 || vm.NameOf(2000) != "c.2c4g" {
		t.Errorf("ladder policy: named %v min %v max %v", vm.Named(), vm.Min, vm.Max)
	}
}

func TestParseBrokenReportsEverything(t *testing.T) {
	data, err := os.ReadFile("testdata/broken.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, diags := Parse("testdata/broken.yaml", data)
	want := []string{
		`testdata/broken.yaml:2:11: policies[0].name: "Web Egress": want lower-case letters, digits, '-' and '_'`,
		`testdata/broken.yaml:6:26: policies[0].targets.instances[1]: instance "web-1" is listed twice`,
		`testdata/broken.yaml:9:7: policies[0].metric.querry: unknown field (did you mean "query"?)`,
		`testdata/broken.yaml:11:10: policies[0].max: 10 is below min 50`,
		`testdata/broken.yaml:12:21: policies[0].up.threshold: 0.4 must be above down.threshold 0.5 (the dead band between them stops flapping)`,
		`testdata/broken.yaml:12:41: policies[0].up.step: want a step such as 10, 50% or rung, got "10x"`,
		`testdata/broken.yaml:12:56: policies[0].up.cooldown: invalid duration "soon": want a duration such as 30s, 5m or 1h30m`,
		`testdata/broken.yaml:13:33: policies[0].down.for: invalid duration "-5m": must not be negative`,
		`testdata/broken.yaml:18:32: warning: policies[1].up.step: one step up (200%) from utilisation 0.5 lands at 0.167, below down.threshold 0.3: the policy will flap`,
		`testdata/broken.yaml:20:11: policies[2].name: policy "flappy" is already defined at policies[1]`,
		`testdata/broken.yaml:22:25: policies[2].metric.synthetic.period: required when amplitude is set`,
		`testdata/broken.yaml:22:62: policies[2].metric.scrape_job: only with a prometheus source`,
		`testdata/broken.yaml:24:32: policies[2].up.step: rung needs a ladder`,
	}
	got := strings.Split(diags.String(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !diags.HasErrors() {
		t.Error("HasErrors = false")
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, diags := Parse("p.yaml", []byte("policies:\n  - name: a: b\n"))
	if len(diags) != 1 || diags[0].String() != "p.yaml:2:1: mapping values are not allowed in this context" {
		t.Fatalf("diags = %q", diags.String())
	}
}

func TestWaveform(t *testing.T) {
	base := 20.0
	w := &Waveform{Base: 10, Amplitude: 5, Period: 4 * time.Minute,
		Spikes:    []Spike{{Start: time.Minute, Duration: 30 * time.Second, Every: 10 * time.Minute, Value: 100}},
		Instances: map[string]WaveformTweak{"b": {Base: &base}}}
	tests := []struct {
		inst string
		at   time.Duration
		want float64
	}{
		{"a", 0, 10},
		{"a", time.Minute, 115}, // sin peak plus spike
		{"a", 2 * time.Minute, 10},
		{"a", 3 * time.Minute, 5},
		{"a", 11*time.Minute + 10*time.Second, 110 + 5*math.Sin(2*math.Pi*670/240)}, // the spike repeats
		{"b", 0, 20},
	}
	for _, tt := range tests {
		if got := w.At(tt.inst, tt.at); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("At(%s, %s) = %v, want %v", tt.inst, tt.at, got, tt.want)
		}
	}
}
