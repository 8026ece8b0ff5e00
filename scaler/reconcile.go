package scaler

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// Observe folds a live read into st and returns the change if the value
// moved outside specscale (drift). Drift counts toward cooldown — the
// provider locks after any change — and a downgrade made outside counts
// toward the cycle's quota. A change of ours in flight (Pending) or
// accepted for later (Scheduled) that lands is not drift.
func Observe(st *TargetState, spec providers.Spec, p *policy.Policy, rc providers.ResourceCaps, bc config.BillingCycle, now time.Time) *Change {
	RollCycle(st, bc, spec.CycleEnd, now)
	value, name, known := spec.Value, spec.Name, true
	if rc.Named {
		known = false
		if p != nil {
			value, known = p.ValueOf(spec.Name)
		}
	}
	st.Status, st.ReadAt, st.Prepaid, st.Temporary = spec.Status, now, spec.Prepaid, spec.Temporary
	if spec.LockedUntil.After(st.LockedUntil) {
		st.LockedUntil = spec.LockedUntil
	}
	matches := func(v float64, n string) bool { return v == value && n == name }
	ours := st.Pending != nil && matches(st.Pending.Value, st.Pending.Name)
	if sc := st.Scheduled; sc != nil && matches(sc.Value, sc.Name) {
		ours = true
		st.Scheduled = nil
	}
	if spec.Pending != nil {
		sp := *spec.Pending
		if rc.Named && p != nil {
			sp.Value, _ = p.ValueOf(sp.Name)
		}
		st.Scheduled = &sp
	} else if sc := st.Scheduled; sc != nil {
		due := sc.EffectiveAt
		if due.IsZero() {
			due = st.Cycle.End
		}
		if sc.State == providers.Processing || (!due.IsZero() && !now.Before(due)) {
			// The provider no longer reports it and the value is not
			// ours: the order failed, was cancelled, or never landed.
			st.Scheduled = nil
		}
	}
	if b := st.Boost; b != nil && b.Native && !now.Before(b.Until) && value < st.Value {
		// The provider ended a native temporary upgrade, as asked.
		ours = true
	}
	var drift *Change
	if st.Known && known && !ours && (value != st.Value || name != st.Name) {
		drift = &Change{At: now, From: st.Value, To: value, Name: name, Outside: true, Reason: "changed outside specscale"}
		st.LastChange = drift
		if lock := now.Add(rc.ChangeLock); lock.After(st.LockedUntil) {
			st.LockedUntil = lock
		}
		if value < st.Value && downgradeLimited(rc, st) {
			st.Cycle.Downgrades++
		}
	}
	st.Value, st.Name, st.Known = value, name, known
	st.stamp(p, rc)
	return drift
}

// Reconciler reads every target's live value at start-up and then every
// interval, records it in state, and reports drift.
type Reconciler struct {
	Store   *Store
	Cache   *StateCache
	Events  *Events
	Log     *zap.Logger
	Runtime func() *Runtime
	Now     func() time.Time
	// Interval between passes; Parallel bounds concurrent reads (at least
	// one).
	Interval time.Duration
	Parallel int
	// Kick asks for a pass now (after a reload); it may be nil.
	Kick <-chan struct{}
	// Owns, when set, limits passes to the policies it names: in a fleet,
	// those this replica evaluates.
	Owns func(policy string) bool
}

// Run reconciles every Interval, and at once when kicked, until ctx ends.
// The first pass is the caller's: the daemon makes it before it reports
// ready, and a second one straight after would read every target again.
func (r *Reconciler) Run(ctx context.Context) error {
	for {
		t := time.NewTimer(r.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-r.Kick:
			t.Stop()
		}
		r.Pass(ctx)
	}
}

// Pass reads every target once.
func (r *Reconciler) Pass(ctx context.Context) {
	rt := r.Runtime()
	sem := make(chan struct{}, max(r.Parallel, 1))
	var wg sync.WaitGroup
	for key, p := range rt.Owner {
		if r.Owns != nil && !r.Owns(p.Name) {
			continue
		}
		t, err := providers.ParseKey(key)
		if err != nil {
			continue
		}
		acct := rt.Accounts[t.Account]
		if acct == nil {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.one(ctx, acct, p, t)
		}()
	}
	wg.Wait()
}

func (r *Reconciler) one(ctx context.Context, acct *Account, p *policy.Policy, t providers.Target) {
	rc, ok := acct.Caps.Resource(t.Resource)
	if !ok {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, acct.Timeout)
	spec, err := acct.Provider.Current(cctx, t)
	cancel()
	if err != nil {
		r.Log.Warn("reconcile: cannot read the live value", zap.String("target", t.Key()), zap.Error(err))
		return
	}
	now := r.Now()
	var drift *Change
	st, srev, err := r.Store.Modify(ctx, t, func(st *TargetState) bool {
		drift = Observe(st, spec, p, rc, acct.Cycle, now)
		if st.Policy == "" {
			st.Policy = p.Name
		}
		return true
	})
	if err != nil {
		r.Log.Warn("reconcile: cannot record the live value", zap.String("target", t.Key()), zap.Error(err))
		return
	}
	if r.Cache != nil {
		r.Cache.Set(st, srev)
	}
	if drift != nil {
		_ = r.Events.Publish(ctx, Event{Type: EventDrift, Target: t.Key(), Policy: p.Name, From: f64(drift.From), To: f64(drift.To),
			Reason: "the live value changed outside specscale; counted toward cooldown"})
	}
}
