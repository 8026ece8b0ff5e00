package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Observation is one reading of a target's metric. OK is false when the
// source erred or had no usable sample (empty vector, NaN, ±Inf).
type Observation struct {
	Value float64
	OK    bool
}

// Bounds are a target's effective min and max after schedule windows and
// boosts have had their say. MinBy and MaxBy name what set a bound other than
// the policy ("boost", "schedule night-cap"), for reasons.
type Bounds struct {
	Min, Max     float64
	MinBy, MaxBy string
}

// Status is what the evaluator knows of a target beyond its metric. The
// scaler builds it from the target's state and the guards.
type Status struct {
	// Current is the target's present value (for name-valued resources,
	// the capacity of its rung). Known is false until it has been read.
	Current float64
	Known   bool
	// LastChange is the time of the last change, ours or made outside
	// specscale; policy cooldowns count from it.
	LastChange time.Time
	// LockedUntil is the provider's lock after a change.
	LockedUntil time.Time
	// FrozenUntil: the provider refuses every change until then (Alibaba,
	// after a downgrade, until the cycle ends).
	FrozenUntil time.Time
	// DowngradesLeft in the billing cycle; negative means no limit.
	DowngradesLeft int
	// UpgradeOnly: the provider cannot lower this resource.
	UpgradeOnly bool
	// InFlight: an intent for this target is waiting or being applied.
	InFlight bool
	// Bounds override the policy's min and max; a zero Max means "the
	// policy's own".
	Bounds Bounds
}

// Action is what a decision asks for.
type Action uint8

const (
	Hold Action = iota
	ScaleUp
	ScaleDown
)

func (a Action) String() string {
	switch a {
	case ScaleUp:
		return "scale_up"
	case ScaleDown:
		return "scale_down"
	}
	return "hold"
}

// Reason says why a decision is what it is.
type Reason uint8

const (
	ReasonNone                Reason = iota
	ReasonUnknownCurrent             // the live value has not been read yet
	ReasonInFlight                   // a change for the target is already on its way
	ReasonMissingData                // no usable sample: never scale down
	ReasonMissingMax                 // data missing for long enough: go to max
	ReasonDeadBand                   // utilisation between the thresholds
	ReasonSustaining                 // past a threshold, not yet for long enough
	ReasonBreach                     // above up.threshold for up.for
	ReasonDip                        // below down.threshold for down.for
	ReasonStabilizing                // a higher recommendation inside the window
	ReasonAtMax                      // would scale up, already at the ceiling
	ReasonAtMin                      // would scale down, already at the floor
	ReasonBelowMin                   // below the effective min: raise to it
	ReasonAboveMax                   // above the effective max: lower to it
	ReasonCooldown                   // the policy's cooldown since the last change
	ReasonProviderLock               // the provider's lock after a change
	ReasonFrozen                     // the provider refuses changes until the cycle ends
	ReasonQuota                      // no downgrade left in the billing cycle
	ReasonSavingLastDowngrade        // the last downgrade waits for a whole window of dip
	ReasonUpgradeOnly                // the provider cannot lower this resource
)

var reasonNames = [...]string{
	ReasonNone:                "none",
	ReasonUnknownCurrent:      "unknown_current",
	ReasonInFlight:            "in_flight",
	ReasonMissingData:         "missing_data",
	ReasonMissingMax:          "missing_data_max",
	ReasonDeadBand:            "dead_band",
	ReasonSustaining:          "sustaining",
	ReasonBreach:              "breach",
	ReasonDip:                 "dip",
	ReasonStabilizing:         "stabilizing",
	ReasonAtMax:               "at_max",
	ReasonAtMin:               "at_min",
	ReasonBelowMin:            "below_min",
	ReasonAboveMax:            "above_max",
	ReasonCooldown:            "cooldown",
	ReasonProviderLock:        "provider_lock",
	ReasonFrozen:              "frozen_until_cycle_end",
	ReasonQuota:               "downgrade_quota",
	ReasonSavingLastDowngrade: "saving_last_downgrade",
	ReasonUpgradeOnly:         "upgrade_only",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Blocked reports whether the reason is a guard that stopped a change the
// policy wanted.
func (r Reason) Blocked() bool {
	switch r {
	case ReasonCooldown, ReasonProviderLock, ReasonFrozen, ReasonQuota, ReasonSavingLastDowngrade, ReasonUpgradeOnly:
		return true
	}
	return false
}

// Decision is the evaluator's answer. For a Hold blocked by a guard, To is
// the value the policy wanted and Until when the guard ends (if it does).
type Decision struct {
	Action      Action
	Reason      Reason
	From, To    float64
	Metric      float64
	Utilisation float64
	// Threshold is the threshold that was crossed, if any.
	Threshold float64
	// Since is when the crossing (or the missing data) began.
	Since time.Time
	// Until is when a blocking guard ends.
	Until time.Time
	// By names what set the bound in a BelowMin or AboveMax decision.
	By string
}

// Changes reports whether the decision asks for a change.
func (d Decision) Changes() bool { return d.Action != Hold }

// Explain renders the decision's reason for events and logs. It allocates;
// call it only for decisions worth reporting.
func (d Decision) Explain(now time.Time) string {
	var b strings.Builder
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }
	switch d.Reason {
	case ReasonBreach:
		fmt.Fprintf(&b, "utilisation %s (metric %s ÷ %s) above %s for %s", num(d.Utilisation), num(d.Metric), num(d.From), num(d.Threshold), now.Sub(d.Since).Round(time.Second))
	case ReasonDip:
		fmt.Fprintf(&b, "utilisation %s (metric %s ÷ %s) below %s for %s; highest recommendation in the stabilisation window is %s", num(d.Utilisation), num(d.Metric), num(d.From), num(d.Threshold), now.Sub(d.Since).Round(time.Second), num(d.To))
	case ReasonMissingMax:
		fmt.Fprintf(&b, "no usable sample for %s: going to max", now.Sub(d.Since).Round(time.Second))
	case ReasonBelowMin:
		fmt.Fprintf(&b, "value %s below the minimum %s set by %s", num(d.From), num(d.To), d.By)
	case ReasonAboveMax:
		fmt.Fprintf(&b, "value %s above the maximum %s set by %s", num(d.From), num(d.To), d.By)
	default:
		if d.By != "" && d.Reason.Blocked() {
			// A bound (a schedule window, a boost) wants the change;
			// a guard holds it back until it clears.
			side := "above the maximum"
			if d.To > d.From {
				side = "below the minimum"
			}
			fmt.Fprintf(&b, "value %s %s %s set by %s; waiting: %s", num(d.From), side, num(d.To), d.By, d.Reason)
			if !d.Until.IsZero() {
				fmt.Fprintf(&b, " until %s", d.Until.UTC().Format(time.RFC3339))
			}
			break
		}
		fmt.Fprintf(&b, "%s: utilisation %s (metric %s ÷ %s)", d.Reason, num(d.Utilisation), num(d.Metric), num(d.From))
		if d.Reason.Blocked() && !d.Until.IsZero() {
			fmt.Fprintf(&b, "; blocked until %s", d.Until.UTC().Format(time.RFC3339))
		}
	}
	if d.Action != Hold || d.Reason.Blocked() {
		fmt.Fprintf(&b, "; %s → %s", num(d.From), num(d.To))
	}
	return b.String()
}

// recBuckets is how many time buckets the stabilisation window is split
// into. The window is kept as the highest recommendation per bucket, so
// memory per target is fixed and evaluation allocates nothing.
const recBuckets = 16

// Memory is the evaluator's per-target state between evaluations: when a
// threshold was first crossed, and the recommendations over the
// stabilisation window. The caller owns it (one per target); the zero value
// is ready. Losing it — a restart — only restarts the sustain timers and the
// window, which delays changes and never hastens them.
type Memory struct {
	aboveSince    int64 // unix nanoseconds; 0 = not above
	belowSince    int64
	missingSince  int64
	observedSince int64
	width         int64 // bucket width the buckets were filled with
	// One slot more than recBuckets: a window spans recBuckets whole
	// buckets plus the partial one it starts in.
	recIdx [recBuckets + 1]int64
	recMax [recBuckets + 1]float64
}

// Reset forgets everything.
func (m *Memory) Reset() { *m = Memory{} }

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (m *Memory) record(now int64, rec float64, window time.Duration) {
	w := int64(window) / recBuckets
	if w <= 0 {
		w = 1
	}
	if m.width != w {
		m.width = w
		m.recIdx = [recBuckets + 1]int64{}
	}
	idx := now / w
	pos := idx % (recBuckets + 1)
	if m.recIdx[pos] != idx+1 {
		m.recIdx[pos] = idx + 1
		m.recMax[pos] = rec
		return
	}
	m.recMax[pos] = max(m.recMax[pos], rec)
}

// highest returns the highest recommendation over the window ending now.
// The oldest bucket may reach up to one bucket width before the window,
// which errs on the side of not scaling down.
func (m *Memory) highest(now int64, window time.Duration) float64 {
	w := m.width
	if w <= 0 {
		return math.NaN()
	}
	lo := (now-int64(window))/w + 1
	hi := now/w + 1
	best := math.NaN()
	for i := range m.recIdx {
		if idx := m.recIdx[i]; idx >= lo && idx <= hi {
			if math.IsNaN(best) || m.recMax[i] > best {
				best = m.recMax[i]
			}
		}
	}
	return best
}

// Bounds returns the policy's own bounds.
func (p *Policy) Bounds() Bounds { return Bounds{Min: p.Min, Max: p.Max} }

// Evaluate decides what to do with one target. It updates m and allocates
// nothing.
func (p *Policy) Evaluate(m *Memory, st Status, obs Observation, now time.Time) Decision {
	n := nanos(now)
	b := st.Bounds
	if b.Max == 0 {
		b = p.Bounds()
	}
	if b.MinBy == "" {
		b.MinBy = "the policy"
	}
	if b.MaxBy == "" {
		b.MaxBy = "the policy"
	}
	d := Decision{From: st.Current, To: st.Current, Metric: obs.Value}
	if !st.Known {
		d.Reason = ReasonUnknownCurrent
		return d
	}

	if !obs.OK {
		m.aboveSince, m.belowSince = 0, 0
		if m.missingSince == 0 {
			m.missingSince = n
		}
		d.Since = fromNanos(m.missingSince)
		// A bound moved by a schedule window or a boost is not a reading
		// of the metric: it applies while data is missing too. The
		// policy's own bounds wait for data, as before.
		if !st.InFlight && b.MinBy != "the policy" && st.Current < b.Min {
			d.To, d.By = p.snapUp(b.Min, b), b.MinBy
			return p.guardUp(d, st, now, ReasonBelowMin)
		}
		if !st.InFlight && b.MaxBy != "the policy" && st.Current > b.Max {
			d.To, d.By = p.snapDown(b.Max, b), b.MaxBy
			return p.guardDown(d, st, now, ReasonAboveMax)
		}
		d.Reason = ReasonMissingData
		if p.Missing.Action == "max" && now.Sub(d.Since) >= p.Missing.After && st.Current < b.Max {
			d.To = p.snapUp(b.Max, b)
			return p.guardUp(d, st, now, ReasonMissingMax)
		}
		return d
	}
	m.missingSince = 0
	if m.observedSince == 0 {
		m.observedSince = n
	}
	d.Utilisation = utilisation(obs.Value, st.Current)
	rec := p.recommend(obs.Value, b)
	m.record(n, rec, p.Down.Stabilization)

	if st.InFlight {
		d.Reason = ReasonInFlight
		return d
	}

	// Bounds first: a schedule window or a boost moved them.
	if st.Current < b.Min {
		d.To, d.By = p.snapUp(b.Min, b), b.MinBy
		return p.guardUp(d, st, now, ReasonBelowMin)
	}
	if st.Current > b.Max {
		d.To, d.By = p.snapDown(b.Max, b), b.MaxBy
		return p.guardDown(d, st, now, ReasonAboveMax)
	}

	switch {
	case d.Utilisation > p.Up.Threshold:
		m.belowSince = 0
		if m.aboveSince == 0 {
			m.aboveSince = n
		}
		d.Threshold = p.Up.Threshold
		d.Since = fromNanos(m.aboveSince)
		d.To = p.stepUp(st.Current, b)
		if d.To <= st.Current {
			d.To = st.Current
			d.Reason = ReasonAtMax
			return d
		}
		if now.Sub(d.Since) < p.Up.For {
			d.Reason = ReasonSustaining
			return d
		}
		if until := st.LastChange.Add(p.Up.Cooldown); !st.LastChange.IsZero() && now.Before(until) {
			d.Reason, d.Until = ReasonCooldown, until
			return d
		}
		return p.guardUp(d, st, now, ReasonBreach)

	case d.Utilisation < p.Down.Threshold:
		m.aboveSince = 0
		if m.belowSince == 0 {
			m.belowSince = n
		}
		d.Threshold = p.Down.Threshold
		d.Since = fromNanos(m.belowSince)
		high := m.highest(n, p.Down.Stabilization)
		if math.IsNaN(high) {
			high = rec
		}
		d.To = p.snapUp(max(high, b.Min), b)
		if st.Current <= b.Min {
			d.To = st.Current
			d.Reason = ReasonAtMin
			return d
		}
		if now.Sub(d.Since) < p.Down.For {
			d.Reason = ReasonSustaining
			return d
		}
		if d.To >= st.Current || n-m.observedSince < int64(p.Down.Stabilization) {
			d.Reason = ReasonStabilizing
			if d.To >= st.Current {
				d.To = st.Current
			}
			return d
		}
		if until := st.LastChange.Add(p.Down.Cooldown); !st.LastChange.IsZero() && now.Before(until) {
			d.Reason, d.Until = ReasonCooldown, until
			return d
		}
		d = p.guardDown(d, st, now, ReasonDip)
		if d.Action == ScaleDown && st.DowngradesLeft == 1 && now.Sub(d.Since) < p.Down.Stabilization {
			// The last downgrade of the cycle waits until the dip has
			// lasted a whole stabilisation window.
			d.Action, d.Reason, d.Until = Hold, ReasonSavingLastDowngrade, d.Since.Add(p.Down.Stabilization)
		}
		return d

	default:
		m.aboveSince, m.belowSince = 0, 0
		d.Reason = ReasonDeadBand
		return d
	}
}

// guardUp applies the provider's guards to a raise.
func (p *Policy) guardUp(d Decision, st Status, now time.Time, reason Reason) Decision {
	if now.Before(st.FrozenUntil) {
		d.Reason, d.Until = ReasonFrozen, st.FrozenUntil
		return d
	}
	if now.Before(st.LockedUntil) {
		d.Reason, d.Until = ReasonProviderLock, st.LockedUntil
		return d
	}
	d.Action, d.Reason = ScaleUp, reason
	return d
}

// guardDown applies the provider's guards to a lowering. A lowering forced
// by a bound spends a downgrade like any other.
func (p *Policy) guardDown(d Decision, st Status, now time.Time, reason Reason) Decision {
	switch {
	case st.UpgradeOnly:
		d.Reason = ReasonUpgradeOnly
	case now.Before(st.FrozenUntil):
		d.Reason, d.Until = ReasonFrozen, st.FrozenUntil
	case st.DowngradesLeft == 0:
		d.Reason = ReasonQuota
	case now.Before(st.LockedUntil):
		d.Reason, d.Until = ReasonProviderLock, st.LockedUntil
	default:
		d.Action, d.Reason = ScaleDown, reason
	}
	return d
}

func utilisation(metric, current float64) float64 {
	if current <= 0 {
		if metric > 0 {
			return math.Inf(1)
		}
		return 0
	}
	return metric / current
}

// recommend is the value that would put the metric at down.target
// utilisation, within the bounds and on the ladder.
func (p *Policy) recommend(metric float64, b Bounds) float64 {
	target := p.Down.Target
	if target <= 0 {
		target = p.Up.Threshold
	}
	return p.snapUp(metric/target, b)
}

// stepUp is the next value up from current by the policy's step.
func (p *Policy) stepUp(current float64, b Bounds) float64 {
	var to float64
	switch p.Up.Step.Kind {
	case StepAbsolute:
		to = current + p.Up.Step.Amount
	case StepPercent:
		to = current * (1 + p.Up.Step.Amount/100)
	case StepRung:
		to = current
		for _, r := range p.Ladder {
			if r.Value > current {
				to = r.Value
				break
			}
		}
	}
	if len(p.Ladder) == 0 && to < current+1 {
		to = current + 1
	}
	to = p.snapUp(to, b)
	if to < current {
		return current
	}
	return to
}

// snapUp clamps v into the bounds and rounds it up to the next allowed value:
// the next ladder rung, or the next whole unit without a ladder. Rounding up
// never under-provisions; the ceiling still wins.
func (p *Policy) snapUp(v float64, b Bounds) float64 {
	v = math.Min(math.Max(v, b.Min), b.Max)
	if len(p.Ladder) == 0 {
		c := math.Ceil(v - 1e-9)
		if c > b.Max {
			c = math.Floor(b.Max)
		}
		return c
	}
	best := math.NaN()
	for _, r := range p.Ladder {
		if r.Value > b.Max {
			break
		}
		best = r.Value
		if r.Value >= v {
			return r.Value
		}
	}
	if math.IsNaN(best) {
		return p.Ladder[0].Value
	}
	return best
}

// snapDown clamps v into the bounds and rounds it down to an allowed value.
func (p *Policy) snapDown(v float64, b Bounds) float64 {
	v = math.Min(math.Max(v, b.Min), b.Max)
	if len(p.Ladder) == 0 {
		return math.Floor(v + 1e-9)
	}
	best := p.Ladder[0].Value
	for _, r := range p.Ladder {
		if r.Value > v {
			break
		}
		best = r.Value
	}
	return best
}
