package policy

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseMatcher(t *testing.T) {
	labels := map[string]string{"alertname": "DDoSSuspected", "severity": "page", "instance": "web-1"}
	tests := []struct {
		in      string
		want    string // String() of the parsed matcher
		matches bool
		err     string
	}{
		{in: `alertname="DDoSSuspected"`, want: `alertname="DDoSSuspected"`, matches: true},
		{in: ` alertname = "DDoSSuspected" `, want: `alertname="DDoSSuspected"`, matches: true},
		{in: `alertname=DDoSSuspected`, want: `alertname="DDoSSuspected"`, matches: true},
		{in: `alertname!="DDoSSuspected"`, want: `alertname!="DDoSSuspected"`, matches: false},
		{in: `severity=~"critical|page"`, want: `severity=~"critical|page"`, matches: true},
		// Anchored: "pag" is a prefix of "page", not a match.
		{in: `severity=~"pag"`, want: `severity=~"pag"`, matches: false},
		{in: `severity!~"critical|page"`, want: `severity!~"critical|page"`, matches: false},
		// A missing label has the empty value.
		{in: `team!="db"`, want: `team!="db"`, matches: true},
		{in: `team=""`, want: `team=""`, matches: true},
		{in: `team=~".+"`, want: `team=~".+"`, matches: false},
		{in: `note="say \"hi\""`, want: `note="say \"hi\""`, matches: false},
		{in: `alertname`, err: `matcher "alertname": want name="value", name!="value", name=~"regex" or name!~"regex"`},
		{in: `9x="a"`, err: `matcher "9x=\"a\"": label name "9x": want letters, digits and '_', not starting with a digit`},
		{in: `a=~"(x"`, err: "matcher \"a=~\\\"(x\\\"\": error parsing regexp: missing closing ): `^(?:(x)$`"},
		{in: `a="x`, err: `matcher "a=\"x": value "x is not a valid double-quoted string`},
		{in: `a=x"y`, err: `matcher "a=x\"y": an unquoted value must not contain '"'`},
		{in: `a!x`, err: `matcher "a!x": want one of =, !=, =~, !~ after the label name`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := ParseMatcher(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.String() != tt.want {
				t.Errorf("parsed as %s, want %s", m, tt.want)
			}
			if got := m.Matches(labels); got != tt.matches {
				t.Errorf("Matches = %v, want %v", got, tt.matches)
			}
		})
	}
}

func TestBoostRulesParse(t *testing.T) {
	data, err := os.ReadFile("testdata/boosts-good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps, diags := Parse("testdata/boosts-good.yaml", data)
	if len(diags) != 0 {
		t.Fatalf("diagnostics on a good file:\n%s", diags)
	}
	p := ps[0]
	if len(p.Boosts) != 3 {
		t.Fatalf("got %d boost rules, want 3", len(p.Boosts))
	}
	ddos, launch, fixed := &p.Boosts[0], &p.Boosts[1], &p.Boosts[2]
	if ddos.For != 2*time.Hour || !ddos.EndOnResolve || ddos.To.Kind != BoostMax || ddos.Targets.Label != "instance" {
		t.Errorf("ddos rule decoded as %+v", ddos)
	}
	if launch.To != (BoostValue{Kind: BoostFactor, Amount: 2}) || launch.EndOnResolve {
		t.Errorf("launch rule decoded as %+v", launch)
	}
	tests := []struct {
		name   string
		rule   *BoostRule
		labels map[string]string
		match  bool
		insts  []string
		why    string
	}{
		{"ddos page", ddos, map[string]string{"alertname": "DDoSSuspected", "severity": "page", "instance": "web-2"}, true, []string{"web-2"}, ""},
		{"ddos warning", ddos, map[string]string{"alertname": "DDoSSuspected", "severity": "warning", "instance": "web-2"}, false, []string{"web-2"}, ""},
		{"ddos unknown instance", ddos, map[string]string{"alertname": "DDoSSuspected", "severity": "critical", "instance": "db-1"}, true, nil,
			`label instance="db-1" names no target of policy "web-egress"`},
		{"ddos no instance", ddos, map[string]string{"alertname": "DDoSSuspected", "severity": "critical"}, true, nil,
			`the alert has no label "instance" naming the instance`},
		{"launch prod", launch, map[string]string{"alertname": "LaunchTraffic", "env": "prod"}, true, []string{"web-2"}, ""},
		{"launch dev", launch, map[string]string{"alertname": "LaunchTraffic", "env": "dev"}, false, []string{"web-2"}, ""},
		{"fixed nil labels", fixed, nil, true, []string{"web-1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rule.Matches(tt.labels); got != tt.match {
				t.Errorf("Matches = %v, want %v", got, tt.match)
			}
			insts, why := tt.rule.Instances(p, tt.labels)
			if strings.Join(insts, ",") != strings.Join(tt.insts, ",") || why != tt.why {
				t.Errorf("Instances = %v %q, want %v %q", insts, why, tt.insts, tt.why)
			}
		})
	}
}

func TestBoostRulesBrokenReportsEverything(t *testing.T) {
	data, err := os.ReadFile("testdata/boosts-broken.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, diags := Parse("testdata/boosts-broken.yaml", data)
	want := []string{
		`testdata/boosts-broken.yaml:11:20: policies[0].boosts[0].matchers[0]: matcher "alertname=\"DDoSSuspected": value "DDoSSuspected is not a valid double-quoted string`,
		"testdata/boosts-broken.yaml:11:48: policies[0].boosts[0].matchers[1]: matcher \"severity=~\\\"(critical\\\"\": error parsing regexp: missing closing ): `^(?:(critical)$`",
		`testdata/boosts-broken.yaml:11:73: policies[0].boosts[0].matchers[2]: matcher "9lives=\"x\"": label name "9lives": want letters, digits and '_', not starting with a digit`,
		`testdata/boosts-broken.yaml:12:18: policies[0].boosts[0].targets: set instances or label, not both`,
		`testdata/boosts-broken.yaml:13:13: policies[0].boosts[0].to: 200 is above the policy's max 100: a boost stays inside the policy's bounds`,
		`testdata/boosts-broken.yaml:14:14: policies[0].boosts[0].for: invalid duration "2 hours": want a duration such as 30s, 5m or 1h30m`,
		`testdata/boosts-broken.yaml:15:9: policies[0].boosts[1].for: required: how long the boost lasts, such as 2h`,
		`testdata/boosts-broken.yaml:15:15: policies[0].boosts[1].name: boost "ddos" is already defined at policies[0].boosts[0]`,
		`testdata/boosts-broken.yaml:16:19: policies[0].boosts[1].matchers: required: at least one matcher, such as alertname="DDoSSuspected"`,
		`testdata/boosts-broken.yaml:17:31: policies[0].boosts[1].targets.instances[0]: instance "web-9" is not one of the policy's targets`,
		`testdata/boosts-broken.yaml:18:13: policies[0].boosts[1].to: factor "0.5x": want a number above 1 followed by x, such as 2x`,
		`testdata/boosts-broken.yaml:19:9: policies[0].boosts[1].edn_on_resolve: unknown field (did you mean "end_on_resolve"?)`,
		`testdata/boosts-broken.yaml:20:9: policies[0].boosts[2].for: required: how long the boost lasts, such as 2h`,
		`testdata/boosts-broken.yaml:20:15: policies[0].boosts[2].name: "Bad Name": want lower-case letters, digits, '-' and '_'`,
		`testdata/boosts-broken.yaml:22:18: policies[0].boosts[2].targets: required: instances (a list of the policy's instances) or label (the alert label naming the instance)`,
		`testdata/boosts-broken.yaml:23:13: policies[0].boosts[2].to: 3 is not above the policy's min 5: the boost would never raise anything`,
	}
	got := strings.Split(diags.String(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBoostTo(t *testing.T) {
	p := &Policy{Min: 5, Max: 100}
	ladder := &Policy{Min: 500, Max: 5000, Ladder: []Rung{{Value: 500}, {Value: 1000}, {Value: 2000}, {Value: 5000}}}
	tests := []struct {
		name string
		p    *Policy
		v    BoostValue
		base float64
		want float64
	}{
		{"absolute", p, BoostValue{Kind: BoostAbsolute, Amount: 60}, 10, 60},
		{"max", p, BoostValue{Kind: BoostMax}, 10, 100},
		{"factor", p, BoostValue{Kind: BoostFactor, Amount: 2.5}, 10, 25},
		{"factor rounds up", p, BoostValue{Kind: BoostFactor, Amount: 1.5}, 7, 11},
		{"factor clamped at max", p, BoostValue{Kind: BoostFactor, Amount: 3}, 50, 100},
		{"ladder factor snaps to a rung", ladder, BoostValue{Kind: BoostFactor, Amount: 1.5}, 1000, 2000},
		{"ladder absolute snaps up", ladder, BoostValue{Kind: BoostAbsolute, Amount: 1200}, 500, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.BoostTo(tt.v, tt.base); got != tt.want {
				t.Errorf("BoostTo(%s, %g) = %g, want %g", tt.v, tt.base, got, tt.want)
			}
		})
	}
}
