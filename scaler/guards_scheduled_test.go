package scaler

import (
	"reflect"
	"testing"

	"github.com/specscale/specscale/providers"
)

// These tests show bugs in guards.go and reconcile.go, reported on issue 4
// rather than fixed here (those files are being changed on other branches).
// They fail until the bugs are fixed.

// An async change in flight is the target's future value, not its present
// one (TargetState.Scheduled says so), just as a next-cycle change is. An
// intent for the present value while an async change to another value is
// processing must not be dropped as a no-op: the change lands and the
// target ends at the other value. guards.go's no-op check exempts only
// NextCycle.
func TestCheckGuardsPresentValueWhileAnAsyncChangeIsProcessingIsNotANoop(t *testing.T) {
	st := settled() // at 20
	st.Scheduled = &providers.Pending{Value: 40, State: providers.Processing}
	got := CheckGuards(GuardInput{Intent: intent(KindRevert, 20), State: st, Caps: simCaps(), Policy: webPolicy(), Now: guardNow})
	if want := (Verdict{Kind: Proceed}); !reflect.DeepEqual(got, want) {
		t.Errorf("CheckGuards = %s %q, want %s: the target is about to become 40, and the intent asks for 20", got.Kind, got.Reason, want.Kind)
	}
}

// A next-cycle change whose effective time has passed, that did not land
// and that the provider no longer reports, was cancelled or failed. Observe
// keeps it, and while it is kept every later intent for that value is
// dropped as "the provider already has a next_cycle change" and the
// evaluator plans no downgrade to it: the target stays above what the
// policy wants for good.
func TestObserveDropsANextCycleChangeThatDidNotLand(t *testing.T) {
	st := settled() // at 20
	st.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: day(2026, 3, 1)}
	Observe(st, providers.Spec{Target: webTarget, Value: 20, Status: "Running", Ready: true, Prepaid: true}, webPolicy(), simCaps(), monthlyCycle, guardNow)
	if st.Scheduled != nil {
		t.Errorf("Scheduled = %+v, due %s, still kept though the provider no longer reports it and the value is 20",
			st.Scheduled, st.Scheduled.EffectiveAt.Format("2006-01-02"))
	}
	g := CheckGuards(GuardInput{Intent: intent(KindScaleDown, 10), State: st, Caps: simCaps(), Policy: webPolicy(), Now: guardNow})
	if g.Kind != Proceed {
		t.Errorf("a scale-down to 10 afterwards: %s %q, want proceed", g.Kind, g.Reason)
	}
}
