package scaler

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// Account is a provider account as the executors use it.
type Account struct {
	Name     string
	Provider providers.Provider
	Caps     providers.Capabilities
	// Limiter bounds write calls to the account.
	Limiter *rate.Limiter
	Timeout time.Duration
	DryRun  bool
	Cycle   config.BillingCycle
}

// Runtime is one consistent view of the loaded config: accounts, policies
// and which policy owns each target. A reload swaps it whole.
type Runtime struct {
	Accounts map[string]*Account
	Policies map[string]*policy.Policy
	// Owner maps a target key to the policy that owns it.
	Owner    map[string]*policy.Policy
	Executor config.Executor
}

// Targets returns a policy's targets.
func Targets(p *policy.Policy) []providers.Target {
	out := make([]providers.Target, len(p.Targets.Instances))
	for i, id := range p.Targets.Instances {
		out[i] = providers.Target{Account: p.Targets.Provider, Resource: providers.Resource(p.Targets.Resource), Instance: id}
	}
	return out
}

// VerdictKind is a guard's answer.
type VerdictKind uint8

const (
	Proceed VerdictKind = iota
	// Defer: wait until Until, then try again (a lock, a cooldown).
	Defer
	// Refuse: the intent can never be applied; end it with an event.
	Refuse
	// Noop: the target already has (or will have) the value.
	Noop
)

func (k VerdictKind) String() string {
	return [...]string{"proceed", "defer", "refuse", "noop"}[k]
}

// Verdict is the guards' answer for one intent.
type Verdict struct {
	Kind   VerdictKind
	Until  time.Time
	Reason string
}

// GuardInput is everything the guards look at. It holds no clock: Now is a
// field, so every guard is a table test.
type GuardInput struct {
	Intent *Intent
	State  *TargetState
	Caps   providers.ResourceCaps
	// Policy owns the target; nil when no loaded policy does.
	Policy *policy.Policy
	Cycle  config.BillingCycle
	Now    time.Time
}

// CheckBounds re-checks an intent against its policy: a message published
// on the intents subject by anything else cannot push a target past its
// policy. The policy's range at now includes its schedule windows, which
// may override its own min and max.
func CheckBounds(in *Intent, p *policy.Policy, now time.Time) error {
	if p == nil {
		return fmt.Errorf("no loaded policy owns %s", in.Target)
	}
	if in.Policy != "" && in.Policy != p.Name {
		return fmt.Errorf("intent names policy %q but %s belongs to policy %q", in.Policy, in.Target, p.Name)
	}
	if lo, hi := p.RangeAt(now); in.Value < lo || in.Value > hi {
		return fmt.Errorf("value %g lies outside policy %q bounds %g–%g", in.Value, p.Name, lo, hi)
	}
	if len(p.Ladder) > 0 {
		for _, r := range p.Ladder {
			if r.Value == in.Value && r.Name == in.Name {
				return nil
			}
		}
		return fmt.Errorf("value %g %q is not a rung of policy %q's ladder", in.Value, in.Name, p.Name)
	}
	return nil
}

// downgradeLimited reports whether the caps' per-cycle limit applies to
// this target.
func downgradeLimited(rc providers.ResourceCaps, st *TargetState) bool {
	r := rc.Downgrade
	return r.PerCycle > 0 && (!r.PrepaidOnly || st.Prepaid)
}

// DowngradesLeft returns the downgrades left in the target's cycle, or -1
// when no limit applies.
func DowngradesLeft(rc providers.ResourceCaps, st *TargetState) int {
	if !downgradeLimited(rc, st) {
		return -1
	}
	return max(rc.Downgrade.PerCycle-st.Cycle.Downgrades, 0)
}

// policyCooldown is the policy's own cooldown for a kind of intent. Only
// the policy's own scaling waits for it; boosts, schedules, reverts and
// manual changes wait for the provider's guards only.
func policyCooldown(in *Intent, st *TargetState, p *policy.Policy) time.Time {
	if st.LastChange == nil || p == nil {
		return time.Time{}
	}
	switch in.Kind {
	case KindScaleUp:
		return st.LastChange.At.Add(p.Up.Cooldown)
	case KindScaleDown:
		return st.LastChange.At.Add(p.Down.Cooldown)
	}
	return time.Time{}
}

// sameValue reports whether the state's present value is the intent's.
func sameValue(in *Intent, st *TargetState) bool {
	if !st.Known {
		return false
	}
	if in.Name != "" || st.Name != "" {
		return in.Name == st.Name
	}
	return in.Value == st.Value
}

// CheckGuards decides whether an intent may go to the provider now. The
// state must be fresh (read from KV, or from the provider) and its billing
// cycle rolled to Now (RollCycle).
func CheckGuards(g GuardInput) Verdict {
	in, st, rc := g.Intent, g.State, g.Caps
	if err := CheckBounds(in, g.Policy, g.Now); err != nil {
		return Verdict{Kind: Refuse, Reason: err.Error()}
	}
	if !rc.Named && (in.Value < rc.Min || in.Value > rc.Max) {
		return Verdict{Kind: Refuse, Reason: fmt.Sprintf("value %g lies outside the provider's range %g–%g", in.Value, rc.Min, rc.Max)}
	}
	if b := st.Boost; b.Active(g.Now) && in.Value < b.Value {
		return Verdict{Kind: Refuse, Reason: fmt.Sprintf("an active boost holds the target at %g or more until %s", b.Value, b.Until.UTC().Format(time.RFC3339))}
	}
	// The present value is no no-op while the provider is about to move
	// the target elsewhere (an async order, a next-cycle downgrade), nor
	// for a native temporary change that renews a boost's window.
	renewsWindow := in.Temporary != nil && st.Boost != nil && st.Boost.Native
	if sameValue(in, st) && st.Scheduled == nil && !renewsWindow {
		return Verdict{Kind: Noop, Reason: fmt.Sprintf("target already at %g", st.Value)}
	}
	if s := st.Scheduled; s != nil && s.Value == in.Value && s.Name == in.Name {
		return Verdict{Kind: Noop, Reason: fmt.Sprintf("the provider already has a %s change to %g", s.State, s.Value)}
	}
	down := st.Known && in.Value < st.Value
	if down && rc.Downgrade.UpgradeOnly {
		return Verdict{Kind: Refuse, Reason: "the provider cannot lower this resource (upgrade-only)"}
	}
	if g.Now.Before(st.Cycle.FrozenUntil) {
		return Verdict{Kind: Refuse, Reason: fmt.Sprintf("the provider refuses every change until the billing cycle ends at %s", st.Cycle.FrozenUntil.UTC().Format(time.RFC3339))}
	}
	if down && downgradeLimited(rc, st) && st.Cycle.Downgrades >= rc.Downgrade.PerCycle {
		return Verdict{Kind: Refuse, Reason: fmt.Sprintf("no downgrade left in the billing cycle (%d of %d used; the cycle ends %s)",
			st.Cycle.Downgrades, rc.Downgrade.PerCycle, st.Cycle.End.UTC().Format(time.RFC3339))}
	}
	if g.Now.Before(st.LockedUntil) {
		return Verdict{Kind: Defer, Until: st.LockedUntil, Reason: "provider lock after the last change"}
	}
	if until := policyCooldown(in, st, g.Policy); g.Now.Before(until) {
		return Verdict{Kind: Defer, Until: until, Reason: fmt.Sprintf("policy %s cooldown", in.Kind)}
	}
	return Verdict{Kind: Proceed}
}

// RollCycle brings the state's billing cycle up to now: a new cycle starts
// with no downgrades used and no freeze. It reports whether it changed st.
// Cycles start at 00:00 UTC on MonthlyDay (default the 1st), or end at the
// subscription's expiry (FromExpiry, from the provider's CycleEnd).
func RollCycle(st *TargetState, bc config.BillingCycle, cycleEnd time.Time, now time.Time) bool {
	if !st.Cycle.End.IsZero() && now.Before(st.Cycle.End) {
		if bc.FromExpiry && !cycleEnd.IsZero() && !cycleEnd.Equal(st.Cycle.End) && cycleEnd.After(now) {
			// A renewal moved the expiry: the cycle is the same one,
			// it just ends later.
			st.Cycle.End = cycleEnd
			return true
		}
		return false
	}
	start, end := cycleBounds(bc, cycleEnd, now)
	st.Cycle = Cycle{Start: start, End: end}
	return true
}

func cycleBounds(bc config.BillingCycle, cycleEnd, now time.Time) (time.Time, time.Time) {
	if bc.FromExpiry && !cycleEnd.IsZero() && cycleEnd.After(now) {
		end := cycleEnd.UTC()
		start := end.AddDate(0, -1, 0)
		for !start.Before(now) {
			start = start.AddDate(0, -1, 0)
		}
		return start, end
	}
	day := bc.MonthlyDay
	if day == 0 {
		day = 1
	}
	u := now.UTC()
	start := time.Date(u.Year(), u.Month(), day, 0, 0, 0, 0, time.UTC)
	if start.After(u) {
		start = start.AddDate(0, -1, 0)
	}
	return start, start.AddDate(0, 1, 0)
}
