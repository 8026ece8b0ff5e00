package scaler

import (
	"reflect"
	"testing"
	"time"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// The guards' clock: a Tuesday in the middle of a March billing cycle.
var guardNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func guardAt(d time.Duration) time.Time { return guardNow.Add(d) }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

var webTarget = providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "web-1"}

// webPolicy: bounds 5–500, a 10-minute up cooldown and a 30-minute down
// cooldown.
func webPolicy() *policy.Policy {
	return &policy.Policy{Name: "web", Min: 5, Max: 500,
		Up: policy.Up{Cooldown: 10 * time.Minute}, Down: policy.Down{Cooldown: 30 * time.Minute}}
}

// ladderPolicy allows only 500, 1000, 1500 and 3000.
func ladderPolicy() *policy.Policy {
	return &policy.Policy{Name: "shield", Min: 500, Max: 3000,
		Ladder: []policy.Rung{{Value: 500}, {Value: 1000}, {Value: 1500}, {Value: 3000}}}
}

// typePolicy is a ladder of instance types.
func typePolicy() *policy.Policy {
	return &policy.Policy{Name: "types", Min: 2000, Max: 8000,
		Ladder: []policy.Rung{{Value: 2000, Name: "c.2c4g"}, {Value: 4000, Name: "c.2c8g"}, {Value: 8000, Name: "c.4c16g"}}}
}

// simCaps: the provider takes 0–200, locks 5 minutes after each change and
// allows 3 downgrades per cycle.
func simCaps() providers.ResourceCaps {
	return providers.ResourceCaps{Min: 0, Max: 200, ChangeLock: 5 * time.Minute, Downgrade: providers.DowngradeRule{PerCycle: 3}}
}

// settled is web-1 at 20, last changed an hour ago, every wait over, no
// downgrade used in the March cycle.
func settled() *TargetState {
	return &TargetState{
		Target: webTarget, Policy: "web", Value: 20, Known: true, Status: "Running", Prepaid: true,
		LastChange:  &Change{At: guardAt(-time.Hour), From: 10, To: 20, Kind: KindScaleUp, IntentID: "old"},
		LockedUntil: guardAt(-55 * time.Minute),
		Cycle:       Cycle{Start: day(2026, 3, 1), End: day(2026, 4, 1)},
	}
}

func intent(kind Kind, value float64) *Intent { return intentFor("web", kind, value) }

func typeIntent(name string, value float64) *Intent {
	in := intentFor("types", KindScaleUp, value)
	in.Name = name
	return in
}

func intentFor(policy string, kind Kind, value float64) *Intent {
	return &Intent{ID: "i1", Target: webTarget, Value: value, Kind: kind, Policy: policy, CreatedAt: guardNow, NotAfter: guardAt(time.Minute)}
}

func TestCheckBounds(t *testing.T) {
	named := func(in *Intent, name string) *Intent { in.Name = name; return in }
	tests := []struct {
		name   string
		intent *Intent
		policy *policy.Policy
		want   string // "" for no error
	}{
		{"inside the bounds", intent(KindScaleUp, 40), webPolicy(), ""},
		{"at the floor", intent(KindScaleDown, 5), webPolicy(), ""},
		{"at the ceiling", intent(KindScaleUp, 500), webPolicy(), ""},
		{"below the floor", intent(KindScaleDown, 4), webPolicy(), `value 4 lies outside policy "web" bounds 5–500`},
		{"above the ceiling", intent(KindManual, 501), webPolicy(), `value 501 lies outside policy "web" bounds 5–500`},
		{"no policy owns the target", intent(KindScaleUp, 40), nil, "no loaded policy owns sim/bandwidth_out/web-1"},
		{"the intent names another policy", intentFor("api", KindScaleUp, 40), webPolicy(),
			`intent names policy "api" but sim/bandwidth_out/web-1 belongs to policy "web"`},
		{"an intent naming no policy is checked against the owner's bounds", intentFor("", KindManual, 600), webPolicy(),
			`value 600 lies outside policy "web" bounds 5–500`},
		{"a ladder rung", intentFor("shield", KindScaleUp, 1500), ladderPolicy(), ""},
		{"between rungs", intentFor("shield", KindScaleUp, 1200), ladderPolicy(), `value 1200 "" is not a rung of policy "shield"'s ladder`},
		{"outside a ladder's bounds", intentFor("shield", KindScaleUp, 5000), ladderPolicy(), `value 5000 lies outside policy "shield" bounds 500–3000`},
		{"a named rung", named(intentFor("types", KindScaleUp, 4000), "c.2c8g"), typePolicy(), ""},
		{"a rung's value under another name", named(intentFor("types", KindScaleUp, 4000), "c.4c16g"), typePolicy(),
			`value 4000 "c.4c16g" is not a rung of policy "types"'s ladder`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := CheckBounds(tt.intent, tt.policy, guardNow); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckBounds = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckGuards(t *testing.T) {
	tests := []struct {
		name   string
		intent *Intent
		// state, caps and policy change the defaults: settled(),
		// simCaps(), webPolicy().
		state  func(*TargetState)
		caps   func(*providers.ResourceCaps)
		policy func() *policy.Policy
		want   Verdict
	}{
		{name: "nothing stands in the way of a scale-up", intent: intent(KindScaleUp, 40), want: Verdict{Kind: Proceed}},
		{name: "nothing stands in the way of a scale-down", intent: intent(KindScaleDown, 10), want: Verdict{Kind: Proceed}},

		// Policy bounds come first: a foreign message cannot push a target
		// past its policy, whatever else holds.
		{name: "above the policy's ceiling", intent: intent(KindManual, 600),
			state: func(s *TargetState) { s.LockedUntil = guardAt(time.Hour) },
			want:  Verdict{Kind: Refuse, Reason: `value 600 lies outside policy "web" bounds 5–500`}},
		{name: "below the policy's floor", intent: intent(KindScaleDown, 1),
			want: Verdict{Kind: Refuse, Reason: `value 1 lies outside policy "web" bounds 5–500`}},
		{name: "not a rung of the ladder", intent: intentFor("shield", KindScaleUp, 1200), policy: ladderPolicy,
			want: Verdict{Kind: Refuse, Reason: `value 1200 "" is not a rung of policy "shield"'s ladder`}},
		{name: "the intent names another policy", intent: intentFor("api", KindScaleUp, 40),
			want: Verdict{Kind: Refuse, Reason: `intent names policy "api" but sim/bandwidth_out/web-1 belongs to policy "web"`}},
		{name: "no loaded policy owns the target", intent: intent(KindManual, 40), policy: func() *policy.Policy { return nil },
			want: Verdict{Kind: Refuse, Reason: "no loaded policy owns sim/bandwidth_out/web-1"}},

		// The provider's range.
		{name: "above the provider's range", intent: intent(KindScaleUp, 300),
			want: Verdict{Kind: Refuse, Reason: "value 300 lies outside the provider's range 0–200"}},
		{name: "below the provider's range", intent: intent(KindScaleDown, 5), caps: func(c *providers.ResourceCaps) { c.Min = 10 },
			want: Verdict{Kind: Refuse, Reason: "value 5 lies outside the provider's range 10–200"}},
		{name: "name-valued resources have no numeric range", intent: typeIntent("c.2c8g", 4000),
			policy: typePolicy, caps: func(c *providers.ResourceCaps) { c.Named, c.Min, c.Max = true, 0, 0 },
			state: func(s *TargetState) { s.Value, s.Name, s.Policy = 2000, "c.2c4g", "types" },
			want:  Verdict{Kind: Proceed}},

		// No-ops.
		{name: "the target already has the value", intent: intent(KindScaleUp, 20),
			state: func(s *TargetState) { s.LockedUntil = guardAt(time.Hour) },
			want:  Verdict{Kind: Noop, Reason: "target already at 20"}},
		{name: "the target already has the name", intent: typeIntent("c.2c8g", 4000),
			policy: typePolicy, caps: func(c *providers.ResourceCaps) { c.Named = true },
			state: func(s *TargetState) { s.Value, s.Name, s.Policy = 4000, "c.2c8g", "types" },
			want:  Verdict{Kind: Noop, Reason: "target already at 4000"}},
		{name: "an unread value is never a no-op", intent: intent(KindScaleUp, 20),
			state: func(s *TargetState) { s.Known = false },
			want:  Verdict{Kind: Proceed}},
		{name: "a next-cycle change to the value is already scheduled", intent: intent(KindScaleDown, 10),
			state: func(s *TargetState) {
				s.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: day(2026, 4, 1)}
			},
			want: Verdict{Kind: Noop, Reason: "the provider already has a next_cycle change to 10"}},
		{name: "the present value while a next-cycle downgrade waits is a change", intent: intent(KindScaleUp, 20),
			state: func(s *TargetState) {
				s.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: day(2026, 4, 1)}
			},
			want: Verdict{Kind: Proceed}},
		{name: "an async change to the value is already processing", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.Scheduled = &providers.Pending{Value: 40, State: providers.Processing} },
			want:  Verdict{Kind: Noop, Reason: "the provider already has a processing change to 40"}},

		// Upgrade-only resources.
		{name: "an upgrade-only resource is not lowered", intent: intent(KindScaleDown, 10),
			caps: func(c *providers.ResourceCaps) { c.Downgrade = providers.DowngradeRule{UpgradeOnly: true} },
			want: Verdict{Kind: Refuse, Reason: "the provider cannot lower this resource (upgrade-only)"}},
		{name: "an upgrade-only resource is raised", intent: intent(KindScaleUp, 40),
			caps: func(c *providers.ResourceCaps) { c.Downgrade = providers.DowngradeRule{UpgradeOnly: true} },
			want: Verdict{Kind: Proceed}},

		// Frozen until the cycle ends: no change at all, either way.
		{name: "frozen: no upgrade", intent: intent(KindBoost, 40),
			state: func(s *TargetState) { s.Cycle.FrozenUntil = day(2026, 4, 1) },
			want:  Verdict{Kind: Refuse, Reason: "the provider refuses every change until the billing cycle ends at 2026-04-01T00:00:00Z"}},
		{name: "frozen: no downgrade", intent: intent(KindScaleDown, 10),
			state: func(s *TargetState) { s.Cycle.FrozenUntil = day(2026, 4, 1) },
			want:  Verdict{Kind: Refuse, Reason: "the provider refuses every change until the billing cycle ends at 2026-04-01T00:00:00Z"}},
		{name: "a freeze that has ended", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.Cycle.FrozenUntil = guardNow },
			want:  Verdict{Kind: Proceed}},

		// The downgrade quota.
		{name: "the last downgrade of the cycle may be spent", intent: intent(KindScaleDown, 10),
			state: func(s *TargetState) { s.Cycle.Downgrades = 2 },
			want:  Verdict{Kind: Proceed}},
		{name: "no downgrade left", intent: intent(KindScaleDown, 10),
			state: func(s *TargetState) { s.Cycle.Downgrades = 3 },
			want:  Verdict{Kind: Refuse, Reason: "no downgrade left in the billing cycle (3 of 3 used; the cycle ends 2026-04-01T00:00:00Z)"}},
		{name: "no downgrade left does not stop an upgrade", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.Cycle.Downgrades = 3 },
			want:  Verdict{Kind: Proceed}},
		{name: "a prepaid-only quota binds a prepaid instance", intent: intent(KindScaleDown, 10),
			caps:  func(c *providers.ResourceCaps) { c.Downgrade.PrepaidOnly = true },
			state: func(s *TargetState) { s.Cycle.Downgrades, s.Prepaid = 3, true },
			want:  Verdict{Kind: Refuse, Reason: "no downgrade left in the billing cycle (3 of 3 used; the cycle ends 2026-04-01T00:00:00Z)"}},
		{name: "a prepaid-only quota does not bind a postpaid instance", intent: intent(KindScaleDown, 10),
			caps:  func(c *providers.ResourceCaps) { c.Downgrade.PrepaidOnly = true },
			state: func(s *TargetState) { s.Cycle.Downgrades, s.Prepaid = 3, false },
			want:  Verdict{Kind: Proceed}},
		{name: "no quota at all", intent: intent(KindScaleDown, 10),
			caps:  func(c *providers.ResourceCaps) { c.Downgrade.PerCycle = 0 },
			state: func(s *TargetState) { s.Cycle.Downgrades = 9 },
			want:  Verdict{Kind: Proceed}},

		// The provider's lock: defer until it ends, whatever the kind.
		{name: "provider lock defers a scale-up", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.LockedUntil = guardAt(3 * time.Minute) },
			want:  Verdict{Kind: Defer, Until: guardAt(3 * time.Minute), Reason: "provider lock after the last change"}},
		{name: "provider lock defers a boost", intent: intent(KindBoost, 40),
			state: func(s *TargetState) { s.LockedUntil = guardAt(3 * time.Minute) },
			want:  Verdict{Kind: Defer, Until: guardAt(3 * time.Minute), Reason: "provider lock after the last change"}},
		{name: "provider lock defers a manual change", intent: intent(KindManual, 10),
			state: func(s *TargetState) { s.LockedUntil = guardAt(time.Second) },
			want:  Verdict{Kind: Defer, Until: guardAt(time.Second), Reason: "provider lock after the last change"}},
		{name: "a lock ending now holds no longer", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.LockedUntil = guardNow },
			want:  Verdict{Kind: Proceed}},
		{name: "the lock is checked before the policy's cooldown", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.LastChange.At, s.LockedUntil = guardAt(-time.Minute), guardAt(4*time.Minute) },
			want:  Verdict{Kind: Defer, Until: guardAt(4 * time.Minute), Reason: "provider lock after the last change"}},

		// The policy's cooldowns bind only its own scaling.
		{name: "up cooldown", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.LastChange.At = guardAt(-4 * time.Minute) },
			want:  Verdict{Kind: Defer, Until: guardAt(6 * time.Minute), Reason: "policy scale_up cooldown"}},
		{name: "down cooldown", intent: intent(KindScaleDown, 10),
			state: func(s *TargetState) { s.LastChange.At = guardAt(-20 * time.Minute) },
			want:  Verdict{Kind: Defer, Until: guardAt(10 * time.Minute), Reason: "policy scale_down cooldown"}},
		{name: "the up cooldown has passed, the down one has not: a scale-up goes", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.LastChange.At = guardAt(-20 * time.Minute) },
			want:  Verdict{Kind: Proceed}},
		{name: "an up cooldown ending now holds no longer", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.LastChange.At = guardAt(-10 * time.Minute) },
			want:  Verdict{Kind: Proceed}},
		{name: "drift starts the policy's cooldown too", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) {
				s.LastChange = &Change{At: guardAt(-time.Minute), From: 10, To: 20, Outside: true, Reason: "changed outside specscale"}
			},
			want: Verdict{Kind: Defer, Until: guardAt(9 * time.Minute), Reason: "policy scale_up cooldown"}},
		{name: "a boost ignores the policy's cooldown", intent: intent(KindBoost, 40),
			state: func(s *TargetState) { s.LastChange.At = guardAt(-time.Minute) },
			want:  Verdict{Kind: Proceed}},
		{name: "a revert ignores the policy's cooldown", intent: intent(KindRevert, 10),
			state: func(s *TargetState) { s.LastChange.At = guardAt(-time.Minute) },
			want:  Verdict{Kind: Proceed}},
		{name: "a schedule ignores the policy's cooldown", intent: intent(KindSchedule, 10),
			state: func(s *TargetState) { s.LastChange.At = guardAt(-time.Minute) },
			want:  Verdict{Kind: Proceed}},
		{name: "a manual change ignores the policy's cooldown", intent: intent(KindManual, 40),
			state: func(s *TargetState) { s.LastChange.At = guardAt(-time.Minute) },
			want:  Verdict{Kind: Proceed}},
		{name: "no change yet: no cooldown", intent: intent(KindScaleUp, 40),
			state: func(s *TargetState) { s.LastChange = nil },
			want:  Verdict{Kind: Proceed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, rc, p := settled(), simCaps(), webPolicy()
			if tt.state != nil {
				tt.state(st)
			}
			if tt.caps != nil {
				tt.caps(&rc)
			}
			if tt.policy != nil {
				p = tt.policy()
			}
			got := CheckGuards(GuardInput{Intent: tt.intent, State: st, Caps: rc, Policy: p, Now: guardNow})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckGuards = %s until %s: %q\nwant         %s until %s: %q",
					got.Kind, got.Until.Format(time.RFC3339), got.Reason, tt.want.Kind, tt.want.Until.Format(time.RFC3339), tt.want.Reason)
			}
		})
	}
}

func TestDowngradesLeft(t *testing.T) {
	tests := []struct {
		name    string
		rule    providers.DowngradeRule
		prepaid bool
		used    int
		want    int
	}{
		{"no limit", providers.DowngradeRule{}, true, 5, -1},
		{"none used", providers.DowngradeRule{PerCycle: 3}, false, 0, 3},
		{"one used", providers.DowngradeRule{PerCycle: 3}, false, 1, 2},
		{"all used", providers.DowngradeRule{PerCycle: 3}, false, 3, 0},
		{"more used than allowed (drift)", providers.DowngradeRule{PerCycle: 3}, false, 5, 0},
		{"prepaid-only, prepaid", providers.DowngradeRule{PerCycle: 1, PrepaidOnly: true}, true, 0, 1},
		{"prepaid-only, postpaid", providers.DowngradeRule{PerCycle: 1, PrepaidOnly: true}, false, 0, -1},
		{"upgrade-only has no quota", providers.DowngradeRule{UpgradeOnly: true}, true, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &TargetState{Prepaid: tt.prepaid, Cycle: Cycle{Downgrades: tt.used}}
			if got := DowngradesLeft(providers.ResourceCaps{Downgrade: tt.rule}, st); got != tt.want {
				t.Errorf("DowngradesLeft = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRollCycle(t *testing.T) {
	march := Cycle{Start: day(2026, 3, 1), End: day(2026, 4, 1), Downgrades: 2, FrozenUntil: day(2026, 4, 1)}
	tests := []struct {
		name     string
		cycle    Cycle
		bc       config.BillingCycle
		cycleEnd time.Time
		now      time.Time
		want     Cycle
		changed  bool
	}{
		{name: "first read: the monthly cycle from the 1st", now: guardNow,
			want: Cycle{Start: day(2026, 3, 1), End: day(2026, 4, 1)}, changed: true},
		{name: "first read: monthly from the 15th, before it this month", bc: config.BillingCycle{MonthlyDay: 15}, now: guardNow,
			want: Cycle{Start: day(2026, 2, 15), End: day(2026, 3, 15)}, changed: true},
		{name: "first read: monthly from the 5th, after it this month", bc: config.BillingCycle{MonthlyDay: 5}, now: guardNow,
			want: Cycle{Start: day(2026, 3, 5), End: day(2026, 4, 5)}, changed: true},
		{name: "first read at the very start of a cycle", bc: config.BillingCycle{MonthlyDay: 10}, now: day(2026, 3, 10),
			want: Cycle{Start: day(2026, 3, 10), End: day(2026, 4, 10)}, changed: true},
		{name: "across a year", bc: config.BillingCycle{MonthlyDay: 20}, now: day(2026, 1, 3),
			want: Cycle{Start: day(2025, 12, 20), End: day(2026, 1, 20)}, changed: true},
		{name: "inside the cycle: nothing changes", cycle: march, now: guardNow, want: march},
		{name: "a second before its end: nothing changes", cycle: march, now: day(2026, 4, 1).Add(-time.Second), want: march},
		{name: "at its end: a new cycle, no downgrades used, no freeze", cycle: march, now: day(2026, 4, 1),
			want: Cycle{Start: day(2026, 4, 1), End: day(2026, 5, 1)}, changed: true},
		{name: "long after its end: the cycle now", cycle: march, now: day(2026, 7, 4),
			want: Cycle{Start: day(2026, 7, 1), End: day(2026, 8, 1)}, changed: true},
		{name: "monthly ignores a reported expiry", cycle: march, cycleEnd: day(2026, 3, 20), now: guardNow, want: march},

		{name: "from expiry: the cycle ends at the expiry", bc: config.BillingCycle{FromExpiry: true}, cycleEnd: day(2026, 3, 25), now: guardNow,
			want: Cycle{Start: day(2026, 2, 25), End: day(2026, 3, 25)}, changed: true},
		{name: "from expiry: the expiry is a monthly anniversary away", bc: config.BillingCycle{FromExpiry: true}, cycleEnd: day(2026, 5, 25), now: guardNow,
			want: Cycle{Start: day(2026, 2, 25), End: day(2026, 5, 25)}, changed: true},
		{name: "from expiry: a renewal moves the end, the cycle and its count stay",
			bc:    config.BillingCycle{FromExpiry: true},
			cycle: Cycle{Start: day(2026, 2, 25), End: day(2026, 3, 25), Downgrades: 2}, cycleEnd: day(2026, 4, 25), now: guardNow,
			want: Cycle{Start: day(2026, 2, 25), End: day(2026, 4, 25), Downgrades: 2}, changed: true},
		{name: "from expiry: the same expiry changes nothing",
			bc:    config.BillingCycle{FromExpiry: true},
			cycle: Cycle{Start: day(2026, 2, 25), End: day(2026, 3, 25), Downgrades: 2}, cycleEnd: day(2026, 3, 25), now: guardNow,
			want: Cycle{Start: day(2026, 2, 25), End: day(2026, 3, 25), Downgrades: 2}},
		{name: "from expiry: no expiry known (the executor's first roll) keeps a running cycle",
			bc:    config.BillingCycle{FromExpiry: true},
			cycle: Cycle{Start: day(2026, 2, 25), End: day(2026, 3, 25), Downgrades: 2}, now: guardNow,
			want: Cycle{Start: day(2026, 2, 25), End: day(2026, 3, 25), Downgrades: 2}},
		{name: "from expiry: the cycle ended and the renewed expiry is known",
			bc:    config.BillingCycle{FromExpiry: true},
			cycle: Cycle{Start: day(2026, 2, 5), End: day(2026, 3, 5), Downgrades: 3}, cycleEnd: day(2026, 4, 5), now: guardNow,
			want: Cycle{Start: day(2026, 3, 5), End: day(2026, 4, 5)}, changed: true},
		{name: "from expiry: the cycle ended, no expiry known: a monthly cycle from the 1st until the provider says",
			bc:    config.BillingCycle{FromExpiry: true},
			cycle: Cycle{Start: day(2026, 2, 5), End: day(2026, 3, 5), Downgrades: 3}, now: guardNow,
			want: Cycle{Start: day(2026, 3, 1), End: day(2026, 4, 1)}, changed: true},
		{name: "from expiry: an expiry in the past is not a cycle end",
			bc: config.BillingCycle{FromExpiry: true}, cycleEnd: day(2026, 3, 1), now: guardNow,
			want: Cycle{Start: day(2026, 3, 1), End: day(2026, 4, 1)}, changed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &TargetState{Cycle: tt.cycle}
			changed := RollCycle(st, tt.bc, tt.cycleEnd, tt.now)
			if changed != tt.changed || !reflect.DeepEqual(st.Cycle, tt.want) {
				t.Errorf("RollCycle = %v, cycle %+v\nwant        %v, cycle %+v", changed, st.Cycle, tt.changed, tt.want)
			}
		})
	}
}

// monthlyCycle: cycles start on the 1st.
var monthlyCycle = config.BillingCycle{}

func TestObserve(t *testing.T) {
	live := func(v float64) providers.Spec {
		return providers.Spec{Target: webTarget, Value: v, Status: "Running", Ready: true, Prepaid: true}
	}
	tests := []struct {
		name   string
		state  func(*TargetState)
		spec   providers.Spec
		caps   func(*providers.ResourceCaps)
		policy func() *policy.Policy
		// want changes settled() into the expected state after the read;
		// ReadAt, Status and the stamps are set by the test.
		want      func(*TargetState)
		wantDrift *Change
	}{
		{name: "no change", spec: live(20), want: func(*TargetState) {}},
		{name: "the first read is not drift",
			state: func(s *TargetState) { *s = TargetState{Target: webTarget} },
			spec:  live(20),
			want: func(s *TargetState) {
				*s = TargetState{Target: webTarget, Policy: "web", Value: 20, Known: true, Prepaid: true,
					Cycle: Cycle{Start: day(2026, 3, 1), End: day(2026, 4, 1)}}
			}},
		{name: "an outside upgrade: drift, the lock and the policy's cooldowns start now, no downgrade counted", spec: live(40),
			want: func(s *TargetState) {
				s.Value = 40
				s.LastChange = &Change{At: guardNow, From: 20, To: 40, Outside: true, Reason: "changed outside specscale"}
				s.LockedUntil = guardAt(5 * time.Minute)
			},
			wantDrift: &Change{At: guardNow, From: 20, To: 40, Outside: true, Reason: "changed outside specscale"}},
		{name: "an outside downgrade counts toward the quota", spec: live(10),
			state: func(s *TargetState) { s.Cycle.Downgrades = 1 },
			want: func(s *TargetState) {
				s.Value = 10
				s.LastChange = &Change{At: guardNow, From: 20, To: 10, Outside: true, Reason: "changed outside specscale"}
				s.LockedUntil = guardAt(5 * time.Minute)
				s.Cycle.Downgrades = 2
			},
			wantDrift: &Change{At: guardNow, From: 20, To: 10, Outside: true, Reason: "changed outside specscale"}},
		{name: "an outside downgrade of a postpaid instance under a prepaid-only quota counts nothing",
			spec: providers.Spec{Target: webTarget, Value: 10, Status: "Running", Ready: true},
			caps: func(c *providers.ResourceCaps) { c.Downgrade.PrepaidOnly = true },
			want: func(s *TargetState) {
				s.Value, s.Prepaid = 10, false
				s.LastChange = &Change{At: guardNow, From: 20, To: 10, Outside: true, Reason: "changed outside specscale"}
				s.LockedUntil = guardAt(5 * time.Minute)
			},
			wantDrift: &Change{At: guardNow, From: 20, To: 10, Outside: true, Reason: "changed outside specscale"}},
		{name: "an outside downgrade in a new cycle counts in the new cycle", spec: live(10),
			state: func(s *TargetState) { s.Cycle = Cycle{Start: day(2026, 2, 1), End: day(2026, 3, 1), Downgrades: 3} },
			want: func(s *TargetState) {
				s.Value = 10
				s.LastChange = &Change{At: guardNow, From: 20, To: 10, Outside: true, Reason: "changed outside specscale"}
				s.LockedUntil = guardAt(5 * time.Minute)
				s.Cycle = Cycle{Start: day(2026, 3, 1), End: day(2026, 4, 1), Downgrades: 1}
			},
			wantDrift: &Change{At: guardNow, From: 20, To: 10, Outside: true, Reason: "changed outside specscale"}},
		{name: "the provider's own lock, when later, wins over the drift lock",
			spec: func() providers.Spec { s := live(40); s.LockedUntil = guardAt(time.Hour); return s }(),
			want: func(s *TargetState) {
				s.Value = 40
				s.LastChange = &Change{At: guardNow, From: 20, To: 40, Outside: true, Reason: "changed outside specscale"}
				s.LockedUntil = guardAt(time.Hour)
			},
			wantDrift: &Change{At: guardNow, From: 20, To: 40, Outside: true, Reason: "changed outside specscale"}},
		{name: "a lock the provider reports is kept without drift",
			spec: func() providers.Spec { s := live(20); s.LockedUntil = guardAt(2 * time.Minute); return s }(),
			want: func(s *TargetState) { s.LockedUntil = guardAt(2 * time.Minute) }},
		{name: "our own pending change landing is not drift", spec: live(40),
			state: func(s *TargetState) {
				s.Pending = &Pending{IntentID: "i1", Value: 40, Started: guardAt(-time.Second), Attempts: 1}
			},
			want: func(s *TargetState) {
				s.Value = 40
				s.Pending = &Pending{IntentID: "i1", Value: 40, Started: guardAt(-time.Second), Attempts: 1}
			}},
		{name: "a value other than our pending change's is drift", spec: live(30),
			state: func(s *TargetState) {
				s.Pending = &Pending{IntentID: "i1", Value: 40, Started: guardAt(-time.Second), Attempts: 1}
			},
			want: func(s *TargetState) {
				s.Value = 30
				s.Pending = &Pending{IntentID: "i1", Value: 40, Started: guardAt(-time.Second), Attempts: 1}
				s.LastChange = &Change{At: guardNow, From: 20, To: 30, Outside: true, Reason: "changed outside specscale"}
				s.LockedUntil = guardAt(5 * time.Minute)
			},
			wantDrift: &Change{At: guardNow, From: 20, To: 30, Outside: true, Reason: "changed outside specscale"}},
		{name: "a scheduled next-cycle downgrade landing is not drift, and clears it", spec: live(10),
			state: func(s *TargetState) {
				s.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: day(2026, 3, 1)}
				s.Cycle.Downgrades = 1
			},
			want: func(s *TargetState) { s.Value, s.Scheduled = 10, nil }},
		{name: "an async change landing is not drift, and clears it", spec: live(40),
			state: func(s *TargetState) { s.Scheduled = &providers.Pending{Value: 40, State: providers.Processing} },
			want:  func(s *TargetState) { s.Value, s.Scheduled = 40, nil }},
		{name: "an async change still processing stays scheduled",
			spec: func() providers.Spec {
				s := live(20)
				s.Pending = &providers.Pending{Value: 40, State: providers.Processing}
				return s
			}(),
			state: func(s *TargetState) { s.Scheduled = &providers.Pending{Value: 40, State: providers.Processing} },
			want:  func(s *TargetState) { s.Scheduled = &providers.Pending{Value: 40, State: providers.Processing} }},
		{name: "an async change the provider no longer reports failed: it is dropped", spec: live(20),
			state: func(s *TargetState) { s.Scheduled = &providers.Pending{Value: 40, State: providers.Processing} },
			want:  func(s *TargetState) { s.Scheduled = nil }},
		{name: "a next-cycle change not yet due stays scheduled though the provider stops reporting it", spec: live(20),
			state: func(s *TargetState) {
				s.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: day(2026, 4, 1)}
			},
			want: func(s *TargetState) {
				s.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: day(2026, 4, 1)}
			}},
		{name: "a change the provider reports pending becomes the target's future value",
			spec: func() providers.Spec {
				s := live(20)
				s.Pending = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: day(2026, 4, 1)}
				return s
			}(),
			want: func(s *TargetState) {
				s.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: day(2026, 4, 1)}
			}},
		{name: "a named value read through the policy's ladder",
			policy: typePolicy, caps: func(c *providers.ResourceCaps) { c.Named = true },
			state: func(s *TargetState) { s.Value, s.Name, s.Policy = 2000, "c.2c4g", "types" },
			spec:  providers.Spec{Target: webTarget, Name: "c.2c8g", Status: "Running", Ready: true, Prepaid: true},
			want: func(s *TargetState) {
				s.Value, s.Name, s.Policy = 4000, "c.2c8g", "types"
				s.LastChange = &Change{At: guardNow, From: 2000, To: 4000, Name: "c.2c8g", Outside: true, Reason: "changed outside specscale"}
				s.LockedUntil = guardAt(5 * time.Minute)
			},
			wantDrift: &Change{At: guardNow, From: 2000, To: 4000, Name: "c.2c8g", Outside: true, Reason: "changed outside specscale"}},
		{name: "a name off the ladder leaves the value unknown, and is not drift",
			policy: typePolicy, caps: func(c *providers.ResourceCaps) { c.Named = true },
			state: func(s *TargetState) { s.Value, s.Name, s.Policy = 2000, "c.2c4g", "types" },
			spec:  providers.Spec{Target: webTarget, Name: "g.huge", Status: "Running", Ready: true, Prepaid: true},
			want: func(s *TargetState) {
				s.Value, s.Name, s.Known, s.Policy = 0, "g.huge", false, "types"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, rc, p := settled(), simCaps(), webPolicy()
			if tt.state != nil {
				tt.state(st)
			}
			if tt.caps != nil {
				tt.caps(&rc)
			}
			if tt.policy != nil {
				p = tt.policy()
			}
			want := settled()
			if tt.state != nil {
				tt.state(want)
			}
			tt.want(want)
			want.Status, want.ReadAt = tt.spec.Status, guardNow
			if want.LastChange != nil {
				want.UpCooldownUntil = want.LastChange.At.Add(p.Up.Cooldown)
				want.DownCooldownUntil = want.LastChange.At.Add(p.Down.Cooldown)
			}
			want.DowngradeLimit = stampedLimit(rc, want)

			drift := Observe(st, tt.spec, p, rc, monthlyCycle, guardNow)
			if !reflect.DeepEqual(drift, tt.wantDrift) {
				t.Errorf("drift = %+v, want %+v", drift, tt.wantDrift)
			}
			if !reflect.DeepEqual(st, want) {
				t.Errorf("state:\n%+v\nwant:\n%+v", st, want)
			}
		})
	}
}

// stampedLimit is the limit stamp records: the per-cycle limit where it
// applies, else 0.
func stampedLimit(rc providers.ResourceCaps, st *TargetState) int {
	if DowngradesLeft(rc, st) < 0 {
		return 0
	}
	return rc.Downgrade.PerCycle
}
