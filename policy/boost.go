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

// BoostRule raises a policy's targets for a while when an alert fires.
// The boost engine matches Alertmanager notifications against it; the
// evaluator only ever sees a boost as a raised minimum.
type BoostRule struct {
	// Name identifies the rule in events and boost records.
	Name string `yaml:"name"`
	// Matchers select alerts by label, in Alertmanager's syntax
	// (alertname="DDoSSuspected", severity=~"critical|page"). Every
	// matcher must match.
	Matchers []Matcher `yaml:"matchers"`
	// Targets says which of the policy's targets an alert boosts.
	Targets BoostTargets `yaml:"targets"`
	// To is the boost's value.
	To BoostValue `yaml:"to"`
	// For is how long the boost lasts after the latest notification.
	For time.Duration `yaml:"for"`
	// EndOnResolve ends the boost early when Alertmanager says the alert
	// resolved.
	EndOnResolve bool `yaml:"end_on_resolve"`
}

// BoostTargets names the targets of a boost rule: a fixed list of the
// policy's instances, or the alert label whose value is the instance.
type BoostTargets struct {
	Instances []string `yaml:"instances"`
	Label     string   `yaml:"label"`
}

// BoostValueKind is how a boost value is measured.
type BoostValueKind uint8

const (
	BoostAbsolute BoostValueKind = iota + 1 // a fixed value
	BoostMax                                // the policy's max
	BoostFactor                             // a multiple of the value before the boost
)

// BoostValue is "max", a number (150) or a factor ("2x").
type BoostValue struct {
	Kind   BoostValueKind
	Amount float64
}

// DecodeNode parses "max", "150" or "2x".
func (v *BoostValue) DecodeNode(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want max, a value such as 150, or a factor such as 2x")
	}
	parsed, err := ParseBoostValue(n.Value)
	if err != nil {
		return err
	}
	*v = parsed
	return nil
}

// ParseBoostValue parses "max", a number or a factor ("2x", "1.5x").
func ParseBoostValue(s string) (BoostValue, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "max":
		return BoostValue{Kind: BoostMax}, nil
	case strings.HasSuffix(s, "x"):
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 1 {
			return BoostValue{}, fmt.Errorf("factor %q: want a number above 1 followed by x, such as 2x", s)
		}
		return BoostValue{Kind: BoostFactor, Amount: f}, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return BoostValue{}, fmt.Errorf("%q: want max, a value above 0 such as 150, or a factor such as 2x", s)
	}
	return BoostValue{Kind: BoostAbsolute, Amount: f}, nil
}

func (v BoostValue) String() string {
	switch v.Kind {
	case BoostMax:
		return "max"
	case BoostFactor:
		return strconv.FormatFloat(v.Amount, 'g', -1, 64) + "x"
	case BoostAbsolute:
		return strconv.FormatFloat(v.Amount, 'g', -1, 64)
	}
	return "none"
}

// BoostTo returns the value a boost of v asks for when the target stood at
// base before the boost: clamped into the policy's bounds and rounded up to
// an allowed value (a ladder rung, a whole unit). A factor always applies to
// the value before the boost, so a repeated alert never compounds it.
func (p *Policy) BoostTo(v BoostValue, base float64) float64 {
	var want float64
	switch v.Kind {
	case BoostAbsolute:
		want = v.Amount
	case BoostMax:
		want = p.Max
	case BoostFactor:
		want = base * v.Amount
	}
	return p.snapUp(want, p.Bounds())
}

// Recommend is the value the policy would set for metric within b: the
// value that puts the metric at down.target utilisation, rounded up to an
// allowed value. The boost engine asks it what the policy wants when a
// boost ends.
func (p *Policy) Recommend(metric float64, b Bounds) float64 {
	if b.Max == 0 {
		b = p.Bounds()
	}
	return p.recommend(metric, b)
}

// SnapUp clamps v into b and rounds it up to an allowed value.
func (p *Policy) SnapUp(v float64, b Bounds) float64 {
	if b.Max == 0 {
		b = p.Bounds()
	}
	return p.snapUp(v, b)
}

// MatchOp is a label matcher's operator.
type MatchOp uint8

const (
	MatchEqual     MatchOp = iota + 1 // =
	MatchNotEqual                     // !=
	MatchRegexp                       // =~
	MatchNotRegexp                    // !~
)

func (op MatchOp) String() string {
	switch op {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return "?"
}

// Matcher is one label matcher in Alertmanager's syntax. A label the alert
// lacks has the empty value, as in Alertmanager: alertname!="X" matches an
// alert without alertname, severity=~"" matches one without severity.
type Matcher struct {
	Name  string
	Op    MatchOp
	Value string
	re    *regexp.Regexp
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseMatcher parses `name="value"`, `name!="value"`, `name=~"regex"` or
// `name!~"regex"`; the value may also be unquoted. Regular expressions are
// anchored at both ends, as in Alertmanager.
func ParseMatcher(s string) (Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i < 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"", s)
	}
	name := strings.TrimSpace(s[:i])
	if !labelNameRE.MatchString(name) {
		return Matcher{}, fmt.Errorf("matcher %q: label name %q: want letters, digits and '_', not starting with a digit", s, name)
	}
	rest := s[i:]
	var m Matcher
	m.Name = name
	switch {
	case strings.HasPrefix(rest, "=~"):
		m.Op, rest = MatchRegexp, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		m.Op, rest = MatchNotRegexp, rest[2:]
	case strings.HasPrefix(rest, "!="):
		m.Op, rest = MatchNotEqual, rest[2:]
	case strings.HasPrefix(rest, "="):
		m.Op, rest = MatchEqual, rest[1:]
	default:
		return Matcher{}, fmt.Errorf("matcher %q: want one of =, !=, =~, !~ after the label name", s)
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, `"`) {
		v, err := strconv.Unquote(rest)
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %q: value %s is not a valid double-quoted string", s, rest)
		}
		m.Value = v
	} else {
		if strings.ContainsAny(rest, "\"\n") {
			return Matcher{}, fmt.Errorf("matcher %q: an unquoted value must not contain '\"'", s)
		}
		m.Value = rest
	}
	if m.Op == MatchRegexp || m.Op == MatchNotRegexp {
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %q: %v", s, err)
		}
		m.re = re
	}
	return m, nil
}

// DecodeNode parses a matcher string.
func (m *Matcher) DecodeNode(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a matcher such as alertname=\"DDoSSuspected\"")
	}
	parsed, err := ParseMatcher(n.Value)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// Matches reports whether the labels satisfy the matcher.
func (m *Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	case MatchNotRegexp:
		return !m.re.MatchString(v)
	}
	return false
}

func (m Matcher) String() string {
	return m.Name + m.Op.String() + strconv.Quote(m.Value)
}

// Matches reports whether every matcher of the rule matches the labels.
func (r *BoostRule) Matches(labels map[string]string) bool {
	for i := range r.Matchers {
		if !r.Matchers[i].Matches(labels) {
			return false
		}
	}
	return len(r.Matchers) > 0
}

// Instances returns the instances an alert with these labels boosts, and
// for a label-named instance that is not one of the policy's targets, the
// reason it boosts nothing.
func (r *BoostRule) Instances(p *Policy, labels map[string]string) ([]string, string) {
	if r.Targets.Label == "" {
		return r.Targets.Instances, ""
	}
	id, ok := labels[r.Targets.Label]
	if !ok || id == "" {
		return nil, fmt.Sprintf("the alert has no label %q naming the instance", r.Targets.Label)
	}
	for _, inst := range p.Targets.Instances {
		if inst == id {
			return []string{id}, ""
		}
	}
	return nil, fmt.Sprintf("label %s=%q names no target of policy %q", r.Targets.Label, id, p.Name)
}

func (p *Policy) validateBoosts(d *strictyaml.Decoder) {
	seen := map[string]int{}
	targets := map[string]bool{}
	for _, id := range p.Targets.Instances {
		targets[id] = true
	}
	list := strictyaml.Find(p.Node, "boosts")
	for i := range p.Boosts {
		r := &p.Boosts[i]
		path := fmt.Sprintf("%s.boosts[%d]", p.Path, i)
		var n *yaml.Node
		if list != nil && list.Kind == yaml.SequenceNode && i < len(list.Content) {
			n = list.Content[i]
		} else {
			n = p.Position("boosts")
		}
		at := func(keys ...string) *yaml.Node { return strictyaml.FindOr(n, keys...) }
		errf := func(keys []string, format string, args ...any) {
			d.Errorf(at(keys...), path+"."+strings.Join(keys, "."), format, args...)
		}
		k := func(keys ...string) []string { return keys }
		switch {
		case r.Name == "":
			errf(k("name"), "required")
		case !nameRE.MatchString(r.Name):
			errf(k("name"), "%q: want lower-case letters, digits, '-' and '_'", r.Name)
		default:
			if prev, dup := seen[r.Name]; dup {
				errf(k("name"), "boost %q is already defined at %s.boosts[%d]", r.Name, p.Path, prev)
			}
			seen[r.Name] = i
		}
		if len(r.Matchers) == 0 && !d.Diags.HasErrorsFor(path+".matchers") {
			errf(k("matchers"), "required: at least one matcher, such as alertname=\"DDoSSuspected\"")
		}
		switch {
		case len(r.Targets.Instances) > 0 && r.Targets.Label != "":
			errf(k("targets"), "set instances or label, not both")
		case len(r.Targets.Instances) == 0 && r.Targets.Label == "":
			errf(k("targets"), "required: instances (a list of the policy's instances) or label (the alert label naming the instance)")
		case r.Targets.Label != "" && !labelNameRE.MatchString(r.Targets.Label):
			errf(k("targets", "label"), "%q is not a label name", r.Targets.Label)
		}
		for j, id := range r.Targets.Instances {
			if !targets[id] {
				inst := strictyaml.Find(n, "targets", "instances")
				node := at("targets", "instances")
				if inst != nil && inst.Kind == yaml.SequenceNode && j < len(inst.Content) {
					node = inst.Content[j]
				}
				d.Errorf(node, fmt.Sprintf("%s.targets.instances[%d]", path, j), "instance %q is not one of the policy's targets", id)
			}
		}
		switch {
		case r.To.Kind == 0 && !d.Diags.HasErrorsFor(path+".to"):
			errf(k("to"), "required: max, a value such as 150, or a factor such as 2x")
		case r.To.Kind == BoostAbsolute && p.Max > 0 && r.To.Amount > p.Max:
			errf(k("to"), "%g is above the policy's max %g: a boost stays inside the policy's bounds", r.To.Amount, p.Max)
		case r.To.Kind == BoostAbsolute && r.To.Amount <= p.Min:
			errf(k("to"), "%g is not above the policy's min %g: the boost would never raise anything", r.To.Amount, p.Min)
		}
		if r.For <= 0 && !d.Diags.HasErrorsFor(path+".for") {
			errf(k("for"), "required: how long the boost lasts, such as 2h")
		} else if r.For > 0 && r.For < time.Second {
			errf(k("for"), "must be at least 1s")
		}
	}
}
