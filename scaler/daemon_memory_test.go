package scaler

import (
	"slices"
	"testing"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/internal/strictyaml"
	"github.com/specscale/specscale/policy"
)

// Once loaded, a config keeps its policies' instance IDs but not the YAML
// nodes they were read from.
func TestReleaseInstanceNodes(t *testing.T) {
	ps, diags := policy.Parse("policies.yaml", []byte(`
policies:
  - name: edge
    targets: {provider: sim, resource: bandwidth_out, instances: [a, b, c]}
    metric: {source: pushed}
    max: 100
    up:   {threshold: 0.8, step: 10}
    down: {threshold: 0.2}
`))
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	releaseInstanceNodes(&config.Config{Loaded: append(ps, &policy.Policy{Name: "built-in-code"})})
	p := ps[0]
	if n := strictyaml.Find(p.Node, "targets", "instances"); n == nil || len(n.Content) != 0 {
		t.Errorf("instance nodes = %+v, want an empty list", n)
	}
	if !slices.Equal(p.Targets.Instances, []string{"a", "b", "c"}) {
		t.Errorf("instances = %v, want [a b c]", p.Targets.Instances)
	}
}
