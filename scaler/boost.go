package scaler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// A boost's life, as the BoostManager runs it:
//
//	trigger (alert firing, `specscale boost`)
//	   │  Start: record the boost in KV (CAS) ─► publish the boost intent
//	   │         (PubAck) ─► schedule its end (JetStream message schedule)
//	   ▼
//	active ──── repeat / another trigger: extend Until, raise Value (never stack)
//	   │
//	   │  Until passes (the schedule fires, or the sweep finds it), or the
//	   │  alert resolves (end_on_resolve), or `specscale boost --cancel`
//	   ▼
//	ending  ─ Boost.Ending written first (what the policy wants now), then the
//	   │      revert intent is published, then the boost is cleared — a crash
//	   ▼      in between is finished by the next pass, with the same intent ID
//	ended
//
// Everything a boost needs to survive a restart is in KV and in the timer
// stream; the manager holds no state of its own beyond a lock that keeps
// two of its own goroutines from ending one boost twice.

// Boost sources.
const (
	SourceAlertmanager = "alertmanager"
	SourceManual       = "manual"
	SourceTimer        = "timer"
)

// BoostRequest asks for a boost of one target.
type BoostRequest struct {
	Target providers.Target
	// Policy, when set, must be the target's owner (alert rules name it);
	// manual requests leave it empty.
	Policy string
	Value  policy.BoostValue
	For    time.Duration
	// Key identifies the trigger: a repeat with the same key extends the
	// same boost rather than adding to it.
	Key          string
	Source       string
	Rule         string
	EndOnResolve bool
	Reason       string
}

// BoostResult is what became of a request.
type BoostResult struct {
	Target string `json:"target"`
	// Outcome: started, extended, unchanged (a duplicate), refused,
	// ended_early, reverted, none (nothing to end).
	Outcome string    `json:"outcome"`
	Value   float64   `json:"value,omitempty"`
	Until   time.Time `json:"until,omitzero"`
	Native  bool      `json:"native,omitempty"`
	Why     string    `json:"why,omitempty"`
	// Code classifies a refusal, for metrics.
	Code string `json:"code,omitempty"`
}

// Boost outcomes.
const (
	BoostStarted    = "started"
	BoostExtended   = "extended"
	BoostUnchanged  = "unchanged"
	BoostRefused    = "refused"
	BoostEndedEarly = "ended_early"
	BoostReverted   = "reverted"
	BoostNone       = "none"
)

// errNotReady: the target's live value has not been read yet, or its last
// boost is still ending; the caller should try again (Alertmanager does,
// on a 503).
var errNotReady = errors.New("the target's live value has not been read yet, or its last boost is still ending")

// errNativePending: a native boost's window has ended but the provider
// still reports the boosted value; ask again a little later.
var errNativePending = errors.New("the provider has not ended its native temporary upgrade yet")

// nativeRevertGrace is how long after a native window's end the daemon
// waits for the provider to revert before it reverts itself.
const nativeRevertGrace = 10 * time.Minute

// BoostManager starts, extends and ends boosts. It is the only writer of
// TargetState.Boost besides the executor's record of a native boost that
// arrived without one.
type BoostManager struct {
	Bus     *Bus
	Store   *Store
	Cache   *StateCache
	Events  *Events
	Metrics *BoostMetrics
	Log     *zap.Logger
	Runtime func() *Runtime
	Now     func() time.Time
	Replica string
	// Observed returns a target's latest usable metric sample (the
	// engine's LastObservation); nil means none is ever known.
	Observed func(key string) (float64, time.Time, bool)
	// Bounds moves a target's bounds (schedule windows); nil means the
	// policy's own.
	Bounds func(p *policy.Policy, t providers.Target, now time.Time) policy.Bounds
	// Sweep is how often active boosts are checked for an end that no
	// timer delivered (default 15s).
	Sweep time.Duration
	// Leads, when set, says whether this replica leads the fleet: only the
	// leader sweeps, so a missed end is reverted once. Timers themselves go
	// to one replica through a shared durable consumer.
	Leads func() bool

	endMu sync.Mutex
}

func (m *BoostManager) owner(t providers.Target) (*Runtime, *policy.Policy, *Account, providers.ResourceCaps, string) {
	rt := m.Runtime()
	pol := rt.Owner[t.Key()]
	if pol == nil {
		return rt, nil, nil, providers.ResourceCaps{}, fmt.Sprintf("no loaded policy owns %s", t)
	}
	acct := rt.Accounts[t.Account]
	if acct == nil {
		return rt, pol, nil, providers.ResourceCaps{}, fmt.Sprintf("no provider account %q", t.Account)
	}
	rc, ok := acct.Caps.Resource(t.Resource)
	if !ok {
		return rt, pol, acct, rc, fmt.Sprintf("provider %q cannot change %s", acct.Name, t.Resource)
	}
	return rt, pol, acct, rc, ""
}

// nativeWindow returns the provider window for a boost ending no earlier
// than until, or nil when the provider's temporary rule cannot hold it.
func nativeWindow(rc providers.ResourceCaps, st *TargetState, now, until time.Time) *providers.Window {
	tr := rc.Temporary
	if tr == nil || !st.Temporary {
		return nil
	}
	end := until
	if tr.EndOnHour {
		// Never shorter than asked: the end moves up to the next hour.
		if t := end.Truncate(time.Hour); !t.Equal(end) {
			end = t.Add(time.Hour)
		}
	} else {
		end = ceilSecond(end)
	}
	length := end.Sub(now)
	if length < tr.MinWindow || (tr.MaxWindow > 0 && length > tr.MaxWindow) {
		return nil
	}
	return &providers.Window{Start: now.UTC().Truncate(time.Second), End: end.UTC()}
}

func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// Start starts or extends a boost. An error means nothing durable may
// have happened yet and the caller should retry (5xx); a refusal is a
// result, not an error.
func (m *BoostManager) Start(ctx context.Context, req BoostRequest) (BoostResult, error) {
	t := req.Target
	res := BoostResult{Target: t.Key()}
	refuse := func(code, format string, args ...any) (BoostResult, error) {
		res.Outcome, res.Code, res.Why = BoostRefused, code, fmt.Sprintf(format, args...)
		m.event(ctx, Event{Type: EventBoostRefused, Target: t.Key(), Policy: req.Policy, Reason: res.Why}, req.Source, code)
		return res, nil
	}
	rt, pol, _, rc, why := m.owner(t)
	if why != "" {
		return refuse("no_owner", "%s", why)
	}
	if req.Policy != "" && req.Policy != pol.Name {
		return refuse("no_owner", "%s belongs to policy %q, not %q", t, pol.Name, req.Policy)
	}
	if req.Value.Kind == policy.BoostAbsolute && req.Value.Amount > pol.Max {
		return refuse("above_max", "%g is above policy %q's max %g", req.Value.Amount, pol.Name, pol.Max)
	}
	if req.For <= 0 {
		return refuse("invalid", "a boost needs a duration above zero")
	}
	now := m.Now()
	until := now.Add(req.For)

	var (
		outcome, code, refusal string
		prev                   *TargetState
	)
	st, rev, err := m.Store.Modify(ctx, t, func(st *TargetState) bool {
		outcome, code, refusal = "", "", ""
		if !st.Known || (st.Boost != nil && st.Boost.Ending != nil) {
			// Unknown value, or the last boost is half-way through its
			// end: a moment later this will work.
			return false
		}
		cp := *st
		prev = &cp
		b := st.Boost
		base := st.Value
		if b != nil {
			// Past its end but not ended yet, the old boost still says
			// what the target had before it: a new boost starts from that.
			base = b.From
		}
		if !b.Active(now) {
			b = nil
		}
		value := pol.BoostTo(req.Value, base)
		trig := BoostTrigger{Key: req.Key, Source: req.Source, Rule: req.Rule, Value: value, Until: until,
			EndOnResolve: req.EndOnResolve, Reason: req.Reason}
		if b == nil {
			nb := &Boost{ID: IntentID(t, KindBoost, 0, req.Key, now), Value: value, Name: pol.NameOf(value), From: base,
				Started: now, Until: until, Policy: pol.Name, Reason: req.Reason, Triggers: []BoostTrigger{trig}}
			if value > st.Value {
				if w := nativeWindow(rc, st, now, until); w != nil {
					nb.Native, nb.Window, nb.Until = true, w, w.End
				} else if rc.Downgrade.UpgradeOnly {
					outcome, code, refusal = BoostRefused, "upgrade_only", fmt.Sprintf(
						"the provider cannot lower %s (upgrade-only) and has no native temporary upgrade for it: the boost could never be reverted", t.Resource)
					return false
				} else if left := DowngradesLeft(rc, st); left == 0 {
					outcome, code, refusal = BoostRefused, "no_downgrade_left", fmt.Sprintf(
						"reverting the boost needs a downgrade and none is left in the billing cycle (it ends %s)", st.Cycle.End.UTC().Format(time.RFC3339))
					return false
				}
			}
			st.Boost, outcome = nb, BoostStarted
			return true
		}
		// Extend: never stack, never shorten, never lower.
		nb := *b
		nb.Triggers = slices.Clone(b.Triggers)
		i := slices.IndexFunc(nb.Triggers, func(x BoostTrigger) bool { return x.Key == req.Key })
		if i >= 0 {
			nb.Triggers[i] = trig
		} else {
			nb.Triggers = append(nb.Triggers, trig)
		}
		changed := false
		if value > nb.Value {
			nb.Value, nb.Name, changed = value, pol.NameOf(value), true
		}
		if nb.Native {
			if until.After(nb.Until) {
				w := nativeWindow(rc, st, now, until)
				if w == nil {
					outcome, code, refusal = BoostRefused, "native_window", fmt.Sprintf(
						"the provider's native window cannot be renewed to end at %s; the boost ends at %s", until.UTC().Format(time.RFC3339), nb.Until.UTC().Format(time.RFC3339))
					return false
				}
				nb.Window, nb.Until, changed = w, w.End, true
			}
		} else if until.Sub(nb.Until) >= time.Second {
			// Less than a second later is the same notification twice
			// (an Alertmanager HA pair), not a repeat worth an event.
			nb.Until, changed = until, true
		}
		outcome = BoostUnchanged
		if changed || i < 0 {
			outcome = BoostExtended
		}
		st.Boost = &nb
		return true
	})
	if err != nil {
		return res, fmt.Errorf("record boost of %s: %w", t, err)
	}
	if outcome == "" {
		return res, errNotReady
	}
	if outcome == BoostRefused {
		return refuse(code, "%s", refusal)
	}
	if m.Cache != nil {
		m.Cache.Set(st, rev)
	}
	b := st.Boost
	res.Outcome, res.Value, res.Until, res.Native = outcome, b.Value, b.Until, b.Native

	// The intent: only when the boost raises the target, or renews a
	// native window.
	if b.Value > prev.Value || (b.Native && outcome == BoostExtended && b.Window != nil) {
		in := &Intent{Target: t, Value: b.Value, Name: b.Name, Kind: KindBoost, Policy: pol.Name,
			Reason:    fmt.Sprintf("boost %s until %s: %s", b.ID[:8], b.Until.UTC().Format(time.RFC3339), b.Reason),
			CreatedAt: now, NotAfter: now.Add(rt.Executor.IntentTTL), Replica: m.Replica}
		at := b.Started
		if b.Native {
			in.Temporary = b.Window
			at = b.Window.End
		}
		in.ID = IntentID(t, KindBoost, b.Value, b.Name, at)
		if err := PublishIntent(ctx, m.Bus.JS, in); err != nil {
			return res, err
		}
		if b.IntentID != in.ID {
			_, _, err := m.Store.Modify(ctx, t, func(st *TargetState) bool {
				if st.Boost == nil || st.Boost.ID != b.ID {
					return false
				}
				st.Boost.IntentID, st.Boost.IntentUntil = in.ID, in.NotAfter
				return true
			})
			if err != nil {
				return res, fmt.Errorf("record boost intent of %s: %w", t, err)
			}
		}
	}
	if err := m.scheduleEnd(ctx, t, b); err != nil {
		return res, err
	}

	switch outcome {
	case BoostStarted:
		how := "the daemon reverts it at the end"
		if b.Native {
			how = fmt.Sprintf("native temporary upgrade %s–%s; the provider reverts it", b.Window.Start.Format(time.RFC3339), b.Window.End.Format(time.RFC3339))
		} else if b.Value <= prev.Value {
			how = fmt.Sprintf("the target is already at %g: held as a floor", prev.Value)
		}
		m.event(ctx, Event{Type: EventBoostStarted, Target: t.Key(), Policy: pol.Name, From: f64(prev.Value), To: f64(b.Value),
			Reason: fmt.Sprintf("%s; until %s; %s", req.Reason, b.Until.UTC().Format(time.RFC3339), how)}, req.Source, "")
	case BoostExtended:
		m.event(ctx, Event{Type: EventBoostExtended, Target: t.Key(), Policy: pol.Name, To: f64(b.Value),
			Reason: fmt.Sprintf("%s; now until %s", req.Reason, b.Until.UTC().Format(time.RFC3339))}, req.Source, "")
	}
	return res, nil
}

// boostPending reports whether the boost engine's intent for an active
// boost is still on its way to the provider.
func boostPending(st *TargetState, b *Boost, now time.Time) bool {
	if b.IntentID == "" || st.wasApplied(b.IntentID) || now.After(b.IntentUntil) {
		return false
	}
	if o := st.Outcome; o != nil && o.IntentID == b.IntentID && o.Result != string(EventDeferred) {
		return false
	}
	return true
}

// Resolve removes an alert's trigger from a boost whose rule ends on
// resolve; when no trigger is left, the boost ends early.
func (m *BoostManager) Resolve(ctx context.Context, t providers.Target, key, reason string) (BoostResult, error) {
	now := m.Now()
	var id string
	var remaining int
	st, rev, err := m.Store.Modify(ctx, t, func(st *TargetState) bool {
		id, remaining = "", 0
		b := st.Boost
		if !b.Active(now) {
			return false
		}
		i := slices.IndexFunc(b.Triggers, func(x BoostTrigger) bool { return x.Key == key && x.EndOnResolve })
		if i < 0 {
			return false
		}
		nb := *b
		nb.Triggers = slices.Delete(slices.Clone(b.Triggers), i, i+1)
		id, remaining = nb.ID, len(nb.Triggers)
		st.Boost = &nb
		return true
	})
	if err != nil {
		return BoostResult{}, fmt.Errorf("resolve boost of %s: %w", t, err)
	}
	if id == "" {
		return BoostResult{Target: t.Key(), Outcome: BoostNone}, nil
	}
	if m.Cache != nil {
		m.Cache.Set(st, rev)
	}
	if remaining > 0 {
		return BoostResult{Target: t.Key(), Outcome: BoostUnchanged, Value: st.Boost.Value, Until: st.Boost.Until,
			Why: fmt.Sprintf("%d other trigger(s) keep the boost up", remaining)}, nil
	}
	return m.End(ctx, t, id, true, reason, SourceAlertmanager)
}

// Cancel ends a target's boost now, whatever holds it up.
func (m *BoostManager) Cancel(ctx context.Context, t providers.Target, reason string) (BoostResult, error) {
	st, _, err := m.Store.Get(ctx, t)
	if err != nil {
		return BoostResult{}, err
	}
	if st.Boost == nil {
		return BoostResult{Target: t.Key(), Outcome: BoostNone, Why: "no active boost"}, nil
	}
	return m.End(ctx, t, st.Boost.ID, true, reason, SourceManual)
}

// want is what the target's policy wants now, without the boost: the
// recommendation for the latest usable sample within the policy's bounds
// in force, or — with no recent sample, when the policy would hold — the
// value before the boost, moved into those bounds.
func (m *BoostManager) want(pol *policy.Policy, t providers.Target, b *Boost, now time.Time) (float64, string) {
	bounds := pol.Bounds()
	if m.Bounds != nil {
		bounds = m.Bounds(pol, t, now)
	}
	if m.Observed != nil {
		if v, at, ok := m.Observed(t.Key()); ok && now.Sub(at) <= 3*pol.Interval {
			w := pol.Recommend(v, bounds)
			return w, fmt.Sprintf("policy %q recommends %g for the latest metric %g", pol.Name, w, v)
		}
	}
	w := pol.SnapUp(b.From, bounds)
	return w, fmt.Sprintf("no recent metric: policy %q holds the value before the boost, %g, within its bounds %g–%g", pol.Name, b.From, bounds.Min, bounds.Max)
}

// End ends boost id of t: early (resolved, cancelled) or because its time
// is up. It records the end, publishes the revert to what the policy
// wants now, and clears the boost. It is idempotent: run again after a
// crash, it publishes the same revert intent and finishes.
func (m *BoostManager) End(ctx context.Context, t providers.Target, id string, early bool, why, source string) (BoostResult, error) {
	m.endMu.Lock()
	defer m.endMu.Unlock()
	res := BoostResult{Target: t.Key(), Outcome: BoostNone}
	rt, pol, acct, _, _ := m.owner(t)
	now := m.Now()

	// The live value, for a native boost: the provider has reverted it
	// (or will at its window's end), so the state's value may be stale.
	var spec *providers.Spec
	if cur, _, err := m.Store.Get(ctx, t); err != nil {
		return res, err
	} else if cur.Boost == nil || cur.Boost.ID != id {
		return res, nil
	} else if cur.Boost.Native && acct != nil && cur.Boost.Ending == nil && !now.Before(cur.Boost.Until) {
		cctx, cancel := context.WithTimeout(ctx, acct.Timeout)
		s, err := acct.Provider.Current(cctx, t)
		cancel()
		if err != nil {
			return res, fmt.Errorf("read %s at the end of its native boost: %w", t, err)
		}
		if s.Value >= cur.Boost.Value && now.Before(cur.Boost.Until.Add(nativeRevertGrace)) {
			// The provider reverts at the window's end, but not always
			// to the second: a revert of ours now would race its own.
			return res, fmt.Errorf("%s: %w", t, errNativePending)
		}
		spec = &s
	}

	var end *BoostEnd
	var boost Boost
	st, rev, err := m.Store.Modify(ctx, t, func(st *TargetState) bool {
		end = nil
		b := st.Boost
		if b == nil || b.ID != id {
			return false
		}
		boost = *b
		if b.Ending != nil {
			end = b.Ending
			return false
		}
		if !early && now.Before(b.Until) {
			return false // extended since the timer was set
		}
		if spec != nil && spec.Value < st.Value {
			st.Value, st.Name = spec.Value, spec.Name
		}
		e := &BoostEnd{At: now, Why: why, Early: early}
		switch {
		case pol == nil:
			e.Detail = fmt.Sprintf("no loaded policy owns %s any more: the target stays where it is", t)
		case b.Native && early && now.Before(b.Until):
			e.Detail = fmt.Sprintf("the provider keeps its native temporary upgrade until %s; the policy decides from then on", b.Until.UTC().Format(time.RFC3339))
		default:
			w, detail := m.want(pol, t, b, now)
			e.RevertTo, e.RevertName, e.Detail = w, pol.NameOf(w), detail
			if st.Known && w < st.Value {
				e.RevertID = IntentID(t, KindRevert, w, e.RevertName, b.Started)
			} else {
				e.Detail += fmt.Sprintf("; the target is at %g already: no change", st.Value)
			}
		}
		nb := *b
		nb.Ending = e
		if now.Before(nb.Until) {
			nb.Until = now
		}
		st.Boost = &nb
		end = e
		return true
	})
	if err != nil {
		return res, fmt.Errorf("end boost of %s: %w", t, err)
	}
	if end == nil {
		return res, nil
	}
	if m.Cache != nil {
		m.Cache.Set(st, rev)
	}
	if end.RevertID != "" {
		in := &Intent{ID: end.RevertID, Target: t, Value: end.RevertTo, Name: end.RevertName, Kind: KindRevert, Policy: boost.Policy,
			Reason:    fmt.Sprintf("boost %s ended (%s): %s", boost.ID[:8], end.Why, end.Detail),
			CreatedAt: end.At, NotAfter: now.Add(rt.Executor.IntentTTL), Replica: m.Replica}
		if st.LockedUntil.After(now) {
			// The provider's lock after the boost may outlast the usual
			// TTL; the revert must not go stale waiting for it.
			in.NotAfter = st.LockedUntil.Add(rt.Executor.IntentTTL)
		}
		if pol != nil {
			in.Policy = pol.Name
		}
		if err := PublishIntent(ctx, m.Bus.JS, in); err != nil {
			return res, err
		}
	}
	cleared := false
	st, rev, err = m.Store.Modify(ctx, t, func(st *TargetState) bool {
		cleared = false
		if st.Boost == nil || st.Boost.ID != id {
			return false
		}
		st.Boost, cleared = nil, true
		return true
	})
	if err != nil {
		return res, fmt.Errorf("clear boost of %s: %w", t, err)
	}
	if m.Cache != nil {
		m.Cache.Set(st, rev)
	}
	res.Outcome, res.Value, res.Why = BoostReverted, end.RevertTo, end.Detail
	if end.Early {
		res.Outcome = BoostEndedEarly
	}
	if !cleared {
		return res, nil // another replica finished it
	}
	polName := boost.Policy
	reason := fmt.Sprintf("%s; %s", end.Why, end.Detail)
	var to *float64
	if end.RevertID != "" {
		to = f64(end.RevertTo)
		reason = fmt.Sprintf("%s; revert to %g published", reason, end.RevertTo)
	}
	if end.Early {
		m.event(ctx, Event{Type: EventBoostEndedEarly, Target: t.Key(), Policy: polName, IntentID: end.RevertID, From: f64(boost.Value), To: to, Reason: reason}, source, "")
	} else {
		m.event(ctx, Event{Type: EventBoostReverted, Target: t.Key(), Policy: polName, IntentID: end.RevertID, From: f64(boost.Value), To: to, Reason: reason}, source, "")
	}
	return res, nil
}

// event publishes a boost event and counts it.
func (m *BoostManager) event(ctx context.Context, e Event, source, code string) {
	if m.Metrics != nil {
		m.Metrics.Events.WithLabelValues(strings.TrimPrefix(string(e.Type), "boost_"), source).Inc()
		if e.Type == EventBoostRefused {
			m.Metrics.Refusals.WithLabelValues(code).Inc()
		}
	}
	if err := m.Events.Publish(ctx, e); err != nil {
		m.Log.Warn("cannot publish boost event", zap.String("event", string(e.Type)), zap.String("target", e.Target), zap.Error(err))
	}
}
