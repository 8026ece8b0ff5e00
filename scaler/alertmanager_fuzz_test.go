package scaler

import (
	"encoding/json"
	"testing"

	"github.com/specscale/specscale/policy"
)

// FuzzDecodeNotification feeds the webhook decoder arbitrary bodies: it
// must never panic, and whatever it accepts must satisfy what the boost
// engine relies on (version 4, known statuses, a key per alert) and
// survive a round trip. Seeds: testdata/fuzz/FuzzDecodeNotification.
func FuzzDecodeNotification(f *testing.F) {
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"DDoSSuspected"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"a1"}]}`))
	f.Add([]byte(`{"version":"4","status":"resolved","groupLabels":null,"commonLabels":null,"alerts":[{"status":"resolved","labels":null,"annotations":null,"startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T01:00:00Z","fingerprint":"a1"}]}`))
	f.Add([]byte(`{"version":"4","status":"firing","alerts":null}`))
	f.Add([]byte(`{"version":"3"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	m1, _ := policy.ParseMatcher(`alertname="DDoSSuspected"`)
	m2, _ := policy.ParseMatcher(`severity=~"critical|page"`)
	m3, _ := policy.ParseMatcher(`instance!~"db-.*"`)
	rule := policy.BoostRule{Name: "r", Matchers: []policy.Matcher{m1, m2, m3}, Targets: policy.BoostTargets{Label: "instance"}}
	p := &policy.Policy{Name: "web", Targets: policy.Targets{Instances: []string{"web-1"}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := DecodeNotification(body)
		if err != nil {
			if n != nil {
				t.Fatalf("an error (%v) with a notification", err)
			}
			return
		}
		if n.Version != "4" || (n.Status != StatusFiring && n.Status != StatusResolved) {
			t.Fatalf("accepted version %q status %q", n.Version, n.Status)
		}
		for i := range n.Alerts {
			a := &n.Alerts[i]
			if a.Fingerprint == "" || a.StartsAt.IsZero() || (a.Status != StatusFiring && a.Status != StatusResolved) {
				t.Fatalf("accepted alert %+v", a)
			}
			if a.Key() == "" {
				t.Fatal("empty key")
			}
			if rule.Matches(a.Labels) {
				_, _ = rule.Instances(p, a.Labels)
			}
		}
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := DecodeNotification(b); err != nil {
			t.Fatalf("a re-encoded notification is refused: %v\n%s", err, b)
		}
	})
}
