package scaler

import (
	"testing"
	"time"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

func TestNativeWindow(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 20, 30, 500_000_000, time.UTC)
	alibaba := providers.ResourceCaps{Temporary: &providers.TemporaryRule{MinWindow: 3 * time.Hour, MaxWindow: 7 * 24 * time.Hour, EndOnHour: true}}
	sim := providers.ResourceCaps{Temporary: &providers.TemporaryRule{MaxWindow: 24 * time.Hour}}
	qualifies := &TargetState{Temporary: true}
	tests := []struct {
		name  string
		rc    providers.ResourceCaps
		st    *TargetState
		until time.Time
		end   time.Time // zero: no native window
	}{
		{"no temporary rule", providers.ResourceCaps{}, qualifies, now.Add(4 * time.Hour), time.Time{}},
		{"instance does not qualify", alibaba, &TargetState{}, now.Add(4 * time.Hour), time.Time{}},
		{"ends on the next hour", alibaba, qualifies, now.Add(4 * time.Hour), time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC)},
		{"already on the hour", alibaba, qualifies, time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)},
		// 2h asked: rounded up to 13:00 it is still under 3h, so the daemon reverts.
		{"shorter than the minimum", alibaba, qualifies, now.Add(2 * time.Hour), time.Time{}},
		// 2h40m asked: rounding up to 13:00 makes it 2h39m — still short.
		{"rounding does not reach the minimum", alibaba, qualifies, now.Add(2*time.Hour + 39*time.Minute), time.Time{}},
		{"longer than the maximum", alibaba, qualifies, now.Add(8 * 24 * time.Hour), time.Time{}},
		{"seconds round up", sim, qualifies, now.Add(3 * time.Second), time.Date(2026, 3, 1, 10, 20, 34, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := nativeWindow(tt.rc, tt.st, now, tt.until)
			switch {
			case tt.end.IsZero() && w != nil:
				t.Errorf("window %+v, want none", w)
			case !tt.end.IsZero() && w == nil:
				t.Errorf("no window, want one ending %s", tt.end)
			case w != nil && (!w.End.Equal(tt.end) || !w.Start.Equal(now.Truncate(time.Second))):
				t.Errorf("window %s–%s, want %s–%s", w.Start, w.End, now.Truncate(time.Second), tt.end)
			}
		})
	}
}

func TestGuardsAndActiveBoost(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	p := &policy.Policy{Name: "web", Min: 5, Max: 100}
	rc := providers.ResourceCaps{Min: 0, Max: 200}
	target := providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "web-1"}
	boosted := func(b *Boost) *TargetState {
		return &TargetState{Target: target, Value: 80, Known: true, Boost: b}
	}
	active := &Boost{ID: "b", Value: 80, Until: now.Add(time.Hour)}
	native := &Boost{ID: "b", Value: 80, Until: now.Add(time.Hour), Native: true}
	tests := []struct {
		name   string
		in     Intent
		st     *TargetState
		want   VerdictKind
		reason string
	}{
		{"lower than an active boost", Intent{Kind: KindScaleDown, Value: 40}, boosted(active), Refuse,
			"an active boost holds the target at 80 or more until 2026-03-01T11:00:00Z"},
		{"a revert after the boost", Intent{Kind: KindRevert, Value: 40}, boosted(&Boost{ID: "b", Value: 80, Until: now}), Proceed, ""},
		{"a boost being ended", Intent{Kind: KindRevert, Value: 40}, boosted(&Boost{ID: "b", Value: 80, Until: now.Add(time.Hour), Ending: &BoostEnd{}}), Proceed, ""},
		{"raise above a boost", Intent{Kind: KindScaleUp, Value: 90}, boosted(active), Proceed, ""},
		{"same value, plain", Intent{Kind: KindBoost, Value: 80}, boosted(active), Noop, "target already at 80"},
		{"same value, renewing a native window", Intent{Kind: KindBoost, Value: 80, Temporary: &providers.Window{Start: now, End: now.Add(2 * time.Hour)}},
			boosted(native), Proceed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Target, in.Policy = target, "web"
			v := CheckGuards(GuardInput{Intent: &in, State: tt.st, Caps: rc, Policy: p, Cycle: config.BillingCycle{}, Now: now})
			if v.Kind != tt.want || v.Reason != tt.reason {
				t.Errorf("verdict %s %q, want %s %q", v.Kind, v.Reason, tt.want, tt.reason)
			}
		})
	}
}

// The provider ending a native temporary upgrade is not drift: no lock,
// no downgrade counted.
func TestObserveNativeBoostEnd(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	rc := providers.ResourceCaps{Max: 200, ChangeLock: 5 * time.Minute, Downgrade: providers.DowngradeRule{PerCycle: 3}}
	spec := providers.Spec{Value: 10, Status: "Running", Ready: true, Temporary: true}
	for _, tt := range []struct {
		name  string
		boost *Boost
		drift bool
	}{
		{"native boost ended", &Boost{Value: 50, Until: now.Add(-5 * time.Second), Native: true}, false},
		{"native boost still on", &Boost{Value: 50, Until: now.Add(time.Hour), Native: true}, true},
		{"daemon boost", &Boost{Value: 50, Until: now.Add(-5 * time.Second)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := &TargetState{Value: 50, Known: true, Boost: tt.boost}
			drift := Observe(st, spec, nil, rc, config.BillingCycle{}, now)
			if (drift != nil) != tt.drift {
				t.Fatalf("drift = %+v, want drift %v", drift, tt.drift)
			}
			if st.Value != 10 || !st.Temporary {
				t.Errorf("state value %g temporary %v, want 10 true", st.Value, st.Temporary)
			}
			if !tt.drift && (st.Cycle.Downgrades != 0 || st.LockedUntil.After(now)) {
				t.Errorf("the provider's revert counted: downgrades %d, locked until %s", st.Cycle.Downgrades, st.LockedUntil)
			}
		})
	}
}
