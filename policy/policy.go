// Package policy holds the policy file format and the pure evaluator that
// turns (policy, target status, observation, now) into a decision with a
// reason. It does no I/O, reads no clock and starts no goroutine: time is a
// parameter, so every hysteresis, cooldown and bound rule is a table test.
package policy

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/internal/strictyaml"
)

// File is a policy file, version 1.
type File struct {
	Version  int       `yaml:"version"`
	Policies []*Policy `yaml:"policies"`
}

// Policy is one scaling policy: which targets, which metric, which bounds
// and which threshold rule.
type Policy struct {
	Name        string  `yaml:"name"`
	Description string  `yaml:"description"`
	Targets     Targets `yaml:"targets"`
	Metric      Metric  `yaml:"metric"`
	// Interval is how often the policy is evaluated when its metric is
	// polled (Prometheus, synthetic). Samples pushed on NATS are evaluated
	// as they arrive.
	Interval time.Duration `yaml:"evaluation_interval"`
	Min      float64       `yaml:"min"`
	Max      float64       `yaml:"max"`
	// Ladder, when set, lists the only values the target may take, in
	// ascending order.
	Ladder []Rung `yaml:"ladder"`
	Up     Up     `yaml:"up"`
	Down   Down   `yaml:"down"`
	// Missing says what to do when the metric has no usable sample.
	Missing Missing `yaml:"missing"`
	// DryRun runs everything but the provider's write call.
	DryRun bool `yaml:"dry_run"`
	// Boosts and Schedules belong to the boost and schedule engines; the
	// evaluator only sees their effect on the bounds.
	Boosts    []BoostRule `yaml:"boosts"`
	Schedules []*Schedule `yaml:"schedules"` // one-shot sets and windows: schedule.go

	// File and Node locate the policy for diagnostics.
	File string     `yaml:"-"`
	Node *yaml.Node `yaml:"-"`
	// Path is the policy's path in its file, "policies[0]".
	Path string `yaml:"-"`
}

// Targets names the policy's targets.
type Targets struct {
	Provider  string   `yaml:"provider"`
	Resource  string   `yaml:"resource"`
	Instances []string `yaml:"instances"`
}

// Metric is where the policy's observations come from.
type Metric struct {
	// Source names a metric source in the daemon config (a Prometheus
	// server or the NATS sample subject). Empty with Synthetic set.
	Source string `yaml:"source"`
	// Query is the PromQL instant query; one query per evaluation serves
	// every target, matched by Label.
	Query string `yaml:"query"`
	// Label is the series label whose value is the instance ID (default
	// "instance").
	Label string `yaml:"label"`
	// ScrapeJob, with a Prometheus source, names the scrape job whose
	// samples the query reads: evaluations are then timed to run just
	// after that job's scrapes land (learned from Prometheus' targets),
	// instead of at a phase that may make every change wait most of an
	// extra interval.
	ScrapeJob string `yaml:"scrape_job"`
	// Synthetic generates a waveform per target, for the quickstart and
	// tests.
	Synthetic *Waveform `yaml:"synthetic"`
}

// Waveform is a synthetic metric: Base + Amplitude·sin(2π(t+Phase)/Period),
// plus any spike in progress. Instances override Base, Amplitude and Phase
// per instance.
type Waveform struct {
	Base      float64                  `yaml:"base"`
	Amplitude float64                  `yaml:"amplitude"`
	Period    time.Duration            `yaml:"period"`
	Phase     time.Duration            `yaml:"phase"`
	Spikes    []Spike                  `yaml:"spikes"`
	Instances map[string]WaveformTweak `yaml:"instances"`
}

// WaveformTweak overrides parts of a waveform for one instance.
type WaveformTweak struct {
	Base      *float64       `yaml:"base"`
	Amplitude *float64       `yaml:"amplitude"`
	Phase     *time.Duration `yaml:"phase"`
}

// Spike adds Value to the waveform from Start for Duration, repeating every
// Every when set. Times are offsets from the source's start.
type Spike struct {
	Start    time.Duration `yaml:"start"`
	Duration time.Duration `yaml:"duration"`
	Every    time.Duration `yaml:"every"`
	Value    float64       `yaml:"value"`
}

// At returns the waveform's value for an instance at offset t from the
// source's start.
func (w *Waveform) At(instance string, t time.Duration) float64 {
	base, amp, phase := w.Base, w.Amplitude, w.Phase
	if tw, ok := w.Instances[instance]; ok {
		if tw.Base != nil {
			base = *tw.Base
		}
		if tw.Amplitude != nil {
			amp = *tw.Amplitude
		}
		if tw.Phase != nil {
			phase = *tw.Phase
		}
	}
	v := base
	if w.Period > 0 && amp != 0 {
		v += amp * math.Sin(2*math.Pi*float64(t+phase)/float64(w.Period))
	}
	for _, s := range w.Spikes {
		off := t - s.Start
		if off < 0 {
			continue
		}
		if s.Every > 0 {
			off %= s.Every
		}
		if off < s.Duration {
			v += s.Value
		}
	}
	return max(v, 0)
}

// Rung is one allowed value. Name is set for resources whose values are
// names (instance types); Value is then the rung's capacity in the metric's
// unit, so that utilisation is metric ÷ capacity.
type Rung struct {
	Value float64
	Name  string
}

// DecodeNode accepts a number (10) or a mapping ({name: c.2c4g, value: 2000}).
func (r *Rung) DecodeNode(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("want a number or {name: …, value: …}, got %q", n.Value)
		}
		r.Value = v
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want a number or {name: …, value: …}")
	}
	var raw struct {
		Name  string  `yaml:"name"`
		Value float64 `yaml:"value"`
	}
	d := strictyaml.Decoder{}
	d.Decode(n, "", &raw)
	if len(d.Diags) > 0 {
		return fmt.Errorf("%s", d.Diags[0].Path+": "+d.Diags[0].Msg)
	}
	r.Name, r.Value = raw.Name, raw.Value
	return nil
}

// Up is the scale-up rule.
type Up struct {
	// Threshold: scale up when utilisation stays above it for For.
	Threshold float64       `yaml:"threshold"`
	For       time.Duration `yaml:"for"`
	Step      Step          `yaml:"step"`
	// Cooldown after any change before the next scale-up.
	Cooldown time.Duration `yaml:"cooldown"`
}

// Down is the scale-down rule.
type Down struct {
	// Threshold: scale down when utilisation stays below it for For.
	Threshold float64       `yaml:"threshold"`
	For       time.Duration `yaml:"for"`
	// Stabilization: scale down only to the highest recommendation seen
	// over this window.
	Stabilization time.Duration `yaml:"stabilization"`
	// Cooldown after any change before the next scale-down.
	Cooldown time.Duration `yaml:"cooldown"`
	// Target is the utilisation a recommendation aims for (default: midway
	// between the thresholds).
	Target float64 `yaml:"target"`
}

// StepKind is how a scale-up step is measured.
type StepKind uint8

const (
	StepAbsolute StepKind = iota + 1 // add Amount
	StepPercent                      // add Amount % of the current value
	StepRung                         // go to the next ladder rung
)

// Step is a scale-up step: "10" (absolute), "50%" or "rung".
type Step struct {
	Kind   StepKind
	Amount float64
}

// DecodeNode parses "10", "50%" or "rung".
func (s *Step) DecodeNode(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a step such as 10, 50%% or rung")
	}
	v := strings.TrimSpace(n.Value)
	switch {
	case v == "rung":
		*s = Step{Kind: StepRung}
		return nil
	case strings.HasSuffix(v, "%"):
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			return fmt.Errorf("want a positive percentage such as 50%%, got %q", v)
		}
		*s = Step{Kind: StepPercent, Amount: f}
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return fmt.Errorf("want a step such as 10, 50%% or rung, got %q", v)
	}
	*s = Step{Kind: StepAbsolute, Amount: f}
	return nil
}

func (s Step) String() string {
	switch s.Kind {
	case StepAbsolute:
		return strconv.FormatFloat(s.Amount, 'g', -1, 64)
	case StepPercent:
		return strconv.FormatFloat(s.Amount, 'g', -1, 64) + "%"
	case StepRung:
		return "rung"
	}
	return "none"
}

// Missing says what to do when a target's metric has no usable sample.
// Missing data never scales down.
type Missing struct {
	// Action: "hold" (default) keeps the target where it is; "max" raises
	// it to the policy's max once data has been missing for After — for
	// targets where running blind is worse than paying for headroom.
	Action string        `yaml:"action"`
	After  time.Duration `yaml:"after"`
}

// Defaults applied to a policy before validation.
const (
	DefaultInterval = 15 * time.Second
	DefaultLabel    = "instance"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Parse decodes and validates a policy file. Diagnostics hold every error
// and warning, each with file, line, column and path; policies with errors
// are still returned so callers can report cross-file problems too.
func Parse(file string, data []byte) ([]*Policy, strictyaml.Diagnostics) {
	root, diags := strictyaml.Parse(file, data)
	if root == nil {
		return nil, diags
	}
	d := strictyaml.Decoder{File: file}
	var f File
	d.Decode(root, "", &f)
	polNodes := strictyaml.Find(root, "policies")
	if f.Version != 0 && f.Version != 1 {
		d.Errorf(strictyaml.Find(root, "version"), "version", "unsupported version %d (want 1)", f.Version)
	}
	if polNodes == nil || len(f.Policies) == 0 {
		d.Errorf(root, "policies", "no policies")
	}
	seen := map[string]string{}
	for i, p := range f.Policies {
		if p == nil {
			continue
		}
		p.File = file
		p.Path = fmt.Sprintf("policies[%d]", i)
		if polNodes != nil && i < len(polNodes.Content) {
			p.Node = polNodes.Content[i]
		}
		p.applyDefaults()
		p.validate(&d)
		if p.Name != "" {
			if prev, dup := seen[p.Name]; dup {
				d.Errorf(strictyaml.FindOr(p.Node, "name"), p.Path+".name", "policy %q is already defined at %s", p.Name, prev)
			}
			seen[p.Name] = p.Path
		}
	}
	out := make([]*Policy, 0, len(f.Policies))
	for _, p := range f.Policies {
		if p != nil {
			out = append(out, p)
		}
	}
	diags = append(diags, d.Diags...)
	diags.Sort()
	return out, diags
}

func (p *Policy) applyDefaults() {
	if p.Interval == 0 {
		p.Interval = DefaultInterval
	}
	if p.Metric.Label == "" {
		p.Metric.Label = DefaultLabel
	}
	if len(p.Ladder) > 0 {
		if p.Min == 0 && strictyaml.Find(p.Node, "min") == nil {
			p.Min = p.Ladder[0].Value
		}
		if p.Max == 0 && strictyaml.Find(p.Node, "max") == nil {
			p.Max = p.Ladder[len(p.Ladder)-1].Value
		}
	}
	if p.Down.Target == 0 && p.Up.Threshold > p.Down.Threshold {
		p.Down.Target = (p.Up.Threshold + p.Down.Threshold) / 2
	}
	if p.Missing.Action == "" {
		p.Missing.Action = "hold"
	}
}

// Position returns the node at keys inside the policy (or the nearest
// existing parent) for diagnostics.
func (p *Policy) Position(keys ...string) *yaml.Node {
	return strictyaml.FindOr(p.Node, keys...)
}

func (p *Policy) field(keys ...string) string {
	return p.Path + "." + strings.Join(keys, ".")
}

func (p *Policy) validate(d *strictyaml.Decoder) {
	errf := func(keys []string, format string, args ...any) {
		d.Errorf(p.Position(keys...), p.field(keys...), format, args...)
	}
	warnf := func(keys []string, format string, args ...any) {
		d.Warnf(p.Position(keys...), p.field(keys...), format, args...)
	}
	k := func(keys ...string) []string { return keys }

	if p.Name == "" {
		errf(k("name"), "required")
	} else if !nameRE.MatchString(p.Name) {
		errf(k("name"), "%q: want lower-case letters, digits, '-' and '_'", p.Name)
	}
	if p.Targets.Provider == "" {
		errf(k("targets", "provider"), "required: the provider account that owns the targets")
	}
	if p.Targets.Resource == "" {
		errf(k("targets", "resource"), "required: the resource to scale, such as bandwidth_out")
	}
	if len(p.Targets.Instances) == 0 {
		errf(k("targets", "instances"), "required: at least one instance ID")
	}
	seenInst := map[string]bool{}
	for i, id := range p.Targets.Instances {
		if seenInst[id] {
			d.Errorf(instanceNode(p, i), fmt.Sprintf("%s.targets.instances[%d]", p.Path, i), "instance %q is listed twice", id)
		}
		seenInst[id] = true
	}

	m := p.Metric
	switch {
	case m.Synthetic != nil && m.Source != "":
		errf(k("metric"), "set either source or synthetic, not both")
	case m.Synthetic == nil && m.Source == "":
		errf(k("metric"), "required: a source (and query) or a synthetic waveform")
	case m.Synthetic != nil:
		if m.ScrapeJob != "" {
			errf(k("metric", "scrape_job"), "only with a prometheus source")
		}
		if m.Synthetic.Period < 0 {
			errf(k("metric", "synthetic", "period"), "must not be negative")
		}
		if m.Synthetic.Amplitude != 0 && m.Synthetic.Period == 0 {
			errf(k("metric", "synthetic", "period"), "required when amplitude is set")
		}
		for inst := range m.Synthetic.Instances {
			if !seenInst[inst] {
				errf(k("metric", "synthetic", "instances", inst), "instance %q is not one of the policy's targets", inst)
			}
		}
	}
	if p.Interval < time.Second {
		errf(k("evaluation_interval"), "must be at least 1s")
	}

	p.validateBounds(errf, k)

	if p.Up.Threshold <= 0 {
		errf(k("up", "threshold"), "required: a utilisation above 0, such as 0.8")
	}
	if p.Down.Threshold < 0 {
		errf(k("down", "threshold"), "must not be negative")
	}
	if p.Up.Threshold > 0 && p.Up.Threshold <= p.Down.Threshold {
		errf(k("up", "threshold"), "%g must be above down.threshold %g (the dead band between them stops flapping)", p.Up.Threshold, p.Down.Threshold)
	}
	if p.Up.Step.Kind == 0 && !d.Diags.HasErrorsFor(p.field("up", "step")) {
		errf(k("up", "step"), "required: 10 (absolute), 50%% or rung")
	}
	if p.Up.Step.Kind == StepRung && len(p.Ladder) == 0 {
		errf(k("up", "step"), "rung needs a ladder")
	}
	if p.Down.Target != 0 && (p.Down.Target <= p.Down.Threshold || p.Down.Target >= p.Up.Threshold) {
		errf(k("down", "target"), "%g must lie between down.threshold %g and up.threshold %g", p.Down.Target, p.Down.Threshold, p.Up.Threshold)
	}
	if p.Up.For > 0 && p.Up.For < p.Interval && m.Source != "" {
		warnf(k("up", "for"), "%s is shorter than evaluation_interval %s: one breach is enough", p.Up.For, p.Interval)
	}
	if p.Down.For > 0 && p.Down.For < p.Interval && m.Source != "" {
		warnf(k("down", "for"), "%s is shorter than evaluation_interval %s: one dip is enough", p.Down.For, p.Interval)
	}
	switch p.Missing.Action {
	case "hold", "max":
	default:
		errf(k("missing", "action"), "%q: want hold or max", p.Missing.Action)
	}
	if flap := p.flapWarning(); flap != "" {
		warnf(k("up", "step"), "%s", flap)
	}
	p.validateSchedules(d)
	p.validateBoosts(d)
}

func instanceNode(p *Policy, i int) *yaml.Node {
	n := strictyaml.Find(p.Node, "targets", "instances")
	if n != nil && i < len(n.Content) {
		return n.Content[i]
	}
	return p.Position("targets", "instances")
}

func (p *Policy) validateBounds(errf func([]string, string, ...any), k func(...string) []string) {
	if p.Min < 0 {
		errf(k("min"), "must not be negative")
	}
	if p.Max <= 0 {
		errf(k("max"), "required: a ceiling above 0")
	} else if p.Max < p.Min {
		errf(k("max"), "%g is below min %g", p.Max, p.Min)
	}
	named := false
	for i, r := range p.Ladder {
		if r.Name != "" {
			named = true
		}
		if i > 0 && r.Value <= p.Ladder[i-1].Value {
			errf(k("ladder"), "rung %d (%g) is not above rung %d (%g): list rungs in ascending order", i, r.Value, i-1, p.Ladder[i-1].Value)
		}
		if r.Value < p.Min || r.Value > p.Max {
			errf(k("ladder"), "rung %d (%g) lies outside min %g and max %g", i, r.Value, p.Min, p.Max)
		}
	}
	if named {
		for i, r := range p.Ladder {
			if r.Name == "" {
				errf(k("ladder"), "rung %d has no name while others do", i)
			}
		}
	}
}

// flapWarning explains how one step up could land utilisation below the
// scale-down threshold, or returns "".
func (p *Policy) flapWarning() string {
	u, dn := p.Up.Threshold, p.Down.Threshold
	if u <= 0 || dn <= 0 || u <= dn {
		return ""
	}
	switch p.Up.Step.Kind {
	case StepPercent:
		after := u / (1 + p.Up.Step.Amount/100)
		if after < dn {
			return fmt.Sprintf("one step up (%s) from utilisation %g lands at %.3g, below down.threshold %g: the policy will flap", p.Up.Step, u, after, dn)
		}
	case StepAbsolute:
		// The smallest value makes the biggest relative jump.
		from := p.Min
		if from <= 0 {
			from = p.Up.Step.Amount
		}
		after := u * from / (from + p.Up.Step.Amount)
		if after < dn {
			return fmt.Sprintf("one step up (+%s) from %g at utilisation %g lands at %.3g, below down.threshold %g: the policy will flap", p.Up.Step, from, u, after, dn)
		}
	case StepRung:
		for i := 0; i+1 < len(p.Ladder); i++ {
			a, b := p.Ladder[i].Value, p.Ladder[i+1].Value
			if a <= 0 {
				continue
			}
			if after := u * a / b; after < dn {
				return fmt.Sprintf("one rung up from %g to %g at utilisation %g lands at %.3g, below down.threshold %g: the policy will flap", a, b, u, after, dn)
			}
		}
	}
	return ""
}

// Named reports whether the policy's values are names (instance types).
func (p *Policy) Named() bool { return len(p.Ladder) > 0 && p.Ladder[0].Name != "" }

// NameOf returns the ladder name of a value, or "".
func (p *Policy) NameOf(v float64) string {
	for _, r := range p.Ladder {
		if r.Value == v {
			return r.Name
		}
	}
	return ""
}

// ValueOf returns the ladder value of a name.
func (p *Policy) ValueOf(name string) (float64, bool) {
	for _, r := range p.Ladder {
		if r.Name == name {
			return r.Value, true
		}
	}
	return 0, false
}
