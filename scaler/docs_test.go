package scaler_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/specscale/specscale/scaler"
)

// metricNames returns the names of every metric the daemon registers.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	names := map[string]bool{}
	nameRE := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, set := range []any{scaler.NewMetrics(reg), scaler.NewFleetMetrics(reg)} {
		v := reflect.ValueOf(set).Elem()
		for i := range v.NumField() {
			c, ok := v.Field(i).Interface().(prometheus.Collector)
			if !ok {
				continue
			}
			ch := make(chan *prometheus.Desc, 16)
			go func() { c.Describe(ch); close(ch) }()
			for d := range ch {
				m := nameRE.FindStringSubmatch(d.String())
				if m == nil {
					t.Fatalf("cannot read the name of %s", d)
				}
				names[m[1]] = true
			}
		}
	}
	return names
}

// Every specscale_ metric the operations guide names (its alert rules
// included) is one the daemon exports.
func TestOperationsGuideNamesRealMetrics(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	names := metricNames(t)
	mentioned := regexp.MustCompile(`specscale_[a-z_]+`).FindAllString(string(doc), -1)
	if len(mentioned) < 10 {
		t.Fatalf("the guide names %d metrics; expected its alert rules", len(mentioned))
	}
	for _, m := range mentioned {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if n, ok := strings.CutSuffix(m, suffix); ok && names[n] {
				base = n
			}
		}
		if !names[base] && !strings.HasPrefix(m, "specscale_leases") && !strings.HasPrefix(m, "specscale_state") {
			t.Errorf("docs/operations.md names %s, which the daemon does not export", m)
		}
	}
}
