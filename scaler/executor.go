package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// Executor consumes intents from the durable consumer and applies them.
// Nothing but an executor calls a provider's write API.
//
// Each intent goes through: decode → dedupe (applied before?) → staleness →
// policy bounds and guards against KV → a live read (Current) → write-ahead
// of the call in KV → rate limit → Apply → record the outcome in KV → event
// → ack. A crash anywhere is recovered by redelivery: the write-ahead record
// and the live read tell whether the change already happened, and the
// intent's ID is the provider's client token.
//
// Intents are dispatched to workers by a hash of the target, so one process
// never works on one target twice at a time; the KV compare-and-set keeps
// replicas apart.
type Executor struct {
	Bus     *Bus
	Store   *Store
	Cache   *StateCache
	Events  *Events
	Metrics *Metrics
	Log     *zap.Logger
	// Runtime returns the current config view; it changes on reload.
	Runtime func() *Runtime
	Now     func() time.Time
	Workers int
	// Grace bounds how long in-flight work may take once Run's context
	// is cancelled.
	Grace time.Duration

	rngMu sync.Mutex
	rng   *rand.Rand
}

type work struct {
	msg jetstream.Msg
}

// Run consumes until ctx is cancelled, then lets in-flight intents finish
// (within Grace) and hands the rest back to JetStream at once.
func (x *Executor) Run(ctx context.Context) error {
	if x.Workers < 1 {
		x.Workers = 1
	}
	if x.Grace == 0 {
		x.Grace = 30 * time.Second
	}
	x.rng = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	// Work goes on with a context that outlives ctx by Grace, so that a
	// change under way is recorded rather than cut in half.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	queues := make([]chan jetstream.Msg, x.Workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan jetstream.Msg, 16)
		wg.Add(1)
		go func(q <-chan jetstream.Msg) {
			defer wg.Done()
			for msg := range q {
				if ctx.Err() != nil {
					// Not started: hand it back for another replica or
					// the next start.
					_ = msg.Nak()
					continue
				}
				x.handle(workCtx, msg)
			}
		}(queues[i])
	}
	consumeLoop(ctx, x.Bus.NC, x.Log, ExecutorName, x.Workers*8,
		func(c context.Context) (jetstream.Consumer, error) {
			return x.Bus.ExecutorConsumer(c, x.Runtime().Executor.AckWait)
		},
		func(msg jetstream.Msg) { queues[x.partition(msg.Subject())] <- msg })
	for _, q := range queues {
		close(q)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(x.Grace):
		x.Log.Warn("in-flight intents did not finish within the grace period; they will be redelivered", zap.Duration("grace", x.Grace))
		cancelWork()
		<-done
	}
	return nil
}

func (x *Executor) partition(subject string) int {
	h := fnv.New32a()
	h.Write([]byte(subject))
	return int(h.Sum32() % uint32(x.Workers))
}

// backoff is the jittered exponential delay before attempt n+1.
func (x *Executor) backoff(n int, rt *Runtime) time.Duration {
	base := rt.Executor.BackoffInitial
	d := float64(base) * math.Pow(2, float64(max(n-1, 0)))
	d = math.Min(d, float64(rt.Executor.BackoffMax))
	x.rngMu.Lock()
	j := 0.5 + x.rng.Float64() // full range 0.5x–1.5x
	x.rngMu.Unlock()
	return time.Duration(d * j)
}

// handle processes one message to its end: ack, nak with delay, or term.
func (x *Executor) handle(ctx context.Context, msg jetstream.Msg) {
	var in Intent
	if err := json.Unmarshal(msg.Data(), &in); err != nil || in.Validate() != nil {
		reason := "undecodable intent"
		if err == nil {
			reason = in.Validate().Error()
		}
		key := strings.TrimPrefix(msg.Subject(), IntentPrefix)
		x.publish(ctx, Event{Type: EventRefused, Target: key, Reason: reason})
		_ = msg.TermWithReason(reason)
		return
	}
	err := x.process(ctx, msg, &in)
	for try := 1; errors.Is(err, errWriteAheadConflict); try++ {
		if try > 3 {
			// Someone keeps writing the target: look again shortly.
			_ = msg.NakWithDelay(50 * time.Millisecond)
			return
		}
		err = x.process(ctx, msg, &in)
	}
	if err != nil {
		// Infrastructure trouble (KV or events unreachable): nothing was
		// recorded as final, so the intent comes back.
		x.Log.Warn("intent not finished; it will be redelivered", zap.String("intent", in.ID),
			zap.String("target", in.Target.Key()), zap.Error(err))
		_ = msg.NakWithDelay(2 * time.Second)
	}
}

// errWriteAheadConflict: the target's state changed between the
// executor's read and its write-ahead record. handle processes the intent
// again at once. Handing it back to JetStream with a delay cost 50 ms
// whenever another writer got in between — and the boost engine does, as
// it records its intent's ID just after publishing it: a webhook's boost
// took 55 ms at p99 instead of a few.
var errWriteAheadConflict = errors.New("target state changed before the write-ahead record")

func (x *Executor) publish(ctx context.Context, e Event) error {
	if x.Metrics != nil {
		x.Metrics.Events.WithLabelValues(string(e.Type)).Inc()
	}
	return x.Events.Publish(ctx, e)
}

// finish records an intent's end in state, publishes its event and acks.
func (x *Executor) finish(ctx context.Context, msg jetstream.Msg, in *Intent, e Event, mutate func(*TargetState)) error {
	return x.finishOver(ctx, msg, in, e, mutate, nil, 0)
}

// finishOver is finish for a caller that holds the target's state as it
// stands at KV revision rev (held is not modified): the outcome is written
// over that revision without reading the state again, and only a conflict
// (someone wrote since) falls back to a fresh read. It saves a KV read per
// applied intent.
func (x *Executor) finishOver(ctx context.Context, msg jetstream.Msg, in *Intent, e Event, mutate func(*TargetState), held *TargetState, rev uint64) error {
	now := x.Now()
	record := func(st *TargetState) bool {
		if mutate != nil {
			mutate(st)
		}
		st.Outcome = &Outcome{IntentID: in.ID, Result: string(e.Type), At: now, Detail: e.Reason}
		if e.Type == EventApplied || e.Type == EventScheduled {
			st.markApplied(in.ID)
		}
		if st.Pending != nil && st.Pending.IntentID == in.ID {
			st.Pending = nil
		}
		return true
	}
	var st *TargetState
	var srev uint64
	if held != nil && rev != 0 {
		cp := *held
		record(&cp)
		n, err := x.Store.Put(ctx, &cp, rev)
		if err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
		if err == nil {
			st, srev = &cp, n
		}
	}
	if st == nil {
		var err error
		if st, srev, err = x.Store.Modify(ctx, in.Target, record); err != nil {
			return err
		}
	}
	if x.Cache != nil {
		x.Cache.Set(st, srev)
	}
	e.Target, e.IntentID, e.Kind = in.Target.Key(), in.ID, in.Kind
	if e.Policy == "" {
		e.Policy = in.Policy
	}
	if err := x.publish(ctx, e); err != nil {
		return err
	}
	x.observe(in, string(e.Type))
	return msg.Ack()
}

func (x *Executor) observe(in *Intent, outcome string) {
	if x.Metrics == nil {
		return
	}
	x.Metrics.Executions.WithLabelValues(in.Target.Account, outcome).Inc()
	x.Metrics.ExecutionLatency.WithLabelValues(in.Target.Account, outcome).Observe(x.Now().Sub(in.CreatedAt).Seconds())
}

// deferTo hands the intent back for later; the delay never runs past the
// intent's not-after by more than a second, when it will be dropped stale.
func (x *Executor) deferTo(ctx context.Context, msg jetstream.Msg, in *Intent, st *TargetState, rev uint64, until time.Time, reason string, ei *ErrorInfo) error {
	now := x.Now()
	delay := until.Sub(now)
	if limit := in.NotAfter.Sub(now) + time.Second; delay > limit {
		delay = limit
	}
	delay = max(delay, 100*time.Millisecond)
	// One deferral event per intent and reason, not one per redelivery.
	if st.Outcome == nil || st.Outcome.IntentID != in.ID || st.Outcome.Result != string(EventDeferred) || st.Outcome.Detail != reason || ei != nil {
		st.Outcome = &Outcome{IntentID: in.ID, Result: string(EventDeferred), At: now, Detail: reason}
		if ei != nil {
			st.LastError = ei
		}
		if _, err := x.Store.Put(ctx, st, rev); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
		if err := x.publish(ctx, Event{Type: EventDeferred, Target: in.Target.Key(), Policy: in.Policy, IntentID: in.ID, Kind: in.Kind,
			To: f64(in.Value), Reason: fmt.Sprintf("%s; next try in %s", reason, delay.Round(time.Millisecond)), Error: ei}); err != nil {
			return err
		}
	}
	return msg.NakWithDelay(delay)
}

func (x *Executor) process(ctx context.Context, msg jetstream.Msg, in *Intent) error {
	rt := x.Runtime()
	now := x.Now()
	log := x.Log.With(zap.String("intent", in.ID), zap.String("target", in.Target.Key()), zap.String("policy", in.Policy))

	st, rev, err := x.Store.Get(ctx, in.Target)
	if err != nil {
		return err
	}
	if st.wasApplied(in.ID) {
		log.Debug("intent already applied; acknowledging the redelivery")
		// Its outcome is recorded, but its event may be missing (a crash
		// or a lost connection came between the two): publish it again;
		// the stream drops a duplicate.
		if o := st.Outcome; o != nil && o.IntentID == in.ID {
			e := Event{Type: EventType(o.Result), At: o.At, Target: in.Target.Key(), Policy: in.Policy, IntentID: in.ID, Kind: in.Kind, Reason: o.Detail}
			if c := st.LastChange; c != nil && c.IntentID == in.ID {
				e.From, e.To = f64(c.From), f64(c.To)
			}
			if err := x.Events.Publish(ctx, e); err != nil {
				return err
			}
		}
		return msg.DoubleAck(ctx)
	}
	if d := st.Desired; d != nil && d.IntentID != in.ID && d.At.After(in.CreatedAt) {
		return x.finish(ctx, msg, in, Event{Type: EventSuperseded, Reason: fmt.Sprintf("a newer intent %s (%g) was taken up", d.IntentID, d.Value)}, nil)
	}
	if now.After(in.NotAfter) {
		x.terminal(in, "stale")
		return x.finish(ctx, msg, in, Event{Type: EventDroppedStale, To: f64(in.Value),
			Reason: fmt.Sprintf("past its not-after %s", in.NotAfter.UTC().Format(time.RFC3339))}, nil)
	}
	acct := rt.Accounts[in.Target.Account]
	if acct == nil {
		x.terminal(in, "refused")
		return x.finish(ctx, msg, in, Event{Type: EventRefused, To: f64(in.Value), Reason: fmt.Sprintf("no provider account %q", in.Target.Account)}, nil)
	}
	rc, ok := acct.Caps.Resource(in.Target.Resource)
	if !ok {
		x.terminal(in, "refused")
		return x.finish(ctx, msg, in, Event{Type: EventRefused, To: f64(in.Value), Reason: fmt.Sprintf("provider %q cannot change %s", acct.Name, in.Target.Resource)}, nil)
	}
	pol := rt.Owner[in.Target.Key()]
	RollCycle(st, acct.Cycle, time.Time{}, now)

	// Guards against KV first: they cost no provider call.
	g := CheckGuards(GuardInput{Intent: in, State: st, Caps: rc, Policy: pol, Cycle: acct.Cycle, Now: now})
	if g.Kind == Refuse {
		x.terminal(in, "refused")
		return x.finish(ctx, msg, in, Event{Type: EventRefused, To: f64(in.Value), Reason: g.Reason}, nil)
	}
	if g.Kind == Defer {
		return x.deferTo(ctx, msg, in, st, rev, g.Until, g.Reason, nil)
	}

	// The live value: it catches drift, a change of ours that landed
	// before a crash, and a status that forbids the change.
	spec, err := x.current(ctx, acct, in.Target)
	if err != nil {
		class := providers.ClassOf(err)
		if class == providers.ClassNotFound || class == providers.ClassAccount || class == providers.ClassInvalid {
			x.terminal(in, "failed")
			return x.finish(ctx, msg, in, Event{Type: EventFailed, To: f64(in.Value), Reason: "reading the live value failed", Error: errorInfo(now, in.ID, err)},
				func(s *TargetState) { s.LastError = errorInfo(now, in.ID, err) })
		}
		until := now.Add(x.backoff(1, rt))
		if ra := providers.RetryAfterOf(err); ra > 0 {
			until = now.Add(ra)
		}
		return x.deferTo(ctx, msg, in, st, rev, until, "reading the live value failed", errorInfo(now, in.ID, err))
	}
	drift := Observe(st, spec, pol, rc, acct.Cycle, now)
	if drift != nil {
		x.publish(ctx, Event{Type: EventDrift, Target: in.Target.Key(), Policy: in.Policy, From: f64(drift.From), To: f64(drift.To),
			Reason: "the live value changed outside specscale; counted toward cooldown"})
	}
	if st.Pending != nil && st.Pending.IntentID == in.ID && sameValue(in, st) {
		// Applied before a crash, not recorded: record it now.
		return x.recordApplied(ctx, msg, in, st, rev, pol, rc, providers.Result{Outcome: providers.Applied}, st.Pending.Started, "recovered after restart")
	}
	g = CheckGuards(GuardInput{Intent: in, State: st, Caps: rc, Policy: pol, Cycle: acct.Cycle, Now: now})
	switch g.Kind {
	case Noop:
		return x.finish(ctx, msg, in, Event{Type: EventDroppedNoop, To: f64(in.Value), Reason: g.Reason}, func(s *TargetState) { copyObserved(s, st) })
	case Refuse:
		x.terminal(in, "refused")
		return x.finish(ctx, msg, in, Event{Type: EventRefused, To: f64(in.Value), Reason: g.Reason}, func(s *TargetState) { copyObserved(s, st) })
	case Defer:
		return x.deferTo(ctx, msg, in, st, rev, g.Until, g.Reason, nil)
	}
	if spec.Pending != nil && spec.Pending.State == providers.Processing {
		return x.deferTo(ctx, msg, in, st, rev, now.Add(5*time.Second), "the provider is still processing an earlier change", nil)
	}
	if !spec.Ready {
		return x.deferTo(ctx, msg, in, st, rev, now.Add(x.backoff(2, rt)), fmt.Sprintf("instance status %q does not allow the change", spec.Status), nil)
	}
	if spec.Max > 0 && !rc.Named && (in.Value < spec.Min || in.Value > spec.Max) {
		x.terminal(in, "refused")
		return x.finish(ctx, msg, in, Event{Type: EventRefused, To: f64(in.Value),
			Reason: fmt.Sprintf("value %g lies outside this instance's range %g–%g", in.Value, spec.Min, spec.Max)}, func(s *TargetState) { copyObserved(s, st) })
	}

	if (pol != nil && pol.DryRun) || acct.DryRun {
		return x.finish(ctx, msg, in, Event{Type: EventWouldApply, From: f64(st.Value), To: f64(in.Value), Reason: in.Reason, DryRun: true},
			func(s *TargetState) { copyObserved(s, st) })
	}

	// Write-ahead: the call is about to happen.
	attempts := 0
	if st.Pending != nil && st.Pending.IntentID == in.ID {
		attempts = st.Pending.Attempts
	}
	if attempts >= rt.Executor.MaxAttempts {
		x.terminal(in, "retries_exhausted")
		return x.finish(ctx, msg, in, Event{Type: EventFailed, To: f64(in.Value),
			Reason: fmt.Sprintf("gave up after %d provider calls", attempts), Error: st.LastError}, func(s *TargetState) { copyObserved(s, st) })
	}
	st.Pending = &Pending{IntentID: in.ID, Value: in.Value, Name: in.Name, From: st.Value, FromKnown: st.Known, Started: now, Attempts: attempts + 1}
	st.Desired = &Desired{IntentID: in.ID, Value: in.Value, Name: in.Name, Kind: in.Kind, Reason: in.Reason, At: in.CreatedAt}
	if st.Policy == "" && pol != nil {
		st.Policy = pol.Name
	}
	rev, err = x.Store.Put(ctx, st, rev)
	if errors.Is(err, ErrConflict) {
		// Someone else touched the target since it was read: go through
		// the checks again with what they wrote.
		return errWriteAheadConflict
	}
	if err != nil {
		return err
	}
	if x.Cache != nil {
		// The engine sees the change in flight at once, and the KV
		// watcher need not decode what the cache already holds. A copy:
		// st changes further below.
		cp := *st
		x.Cache.Set(&cp, rev)
	}

	if err := acct.Limiter.Wait(ctx); err != nil {
		return err
	}
	res, err := x.apply(ctx, msg, acct, in, rt.Executor.AckWait)
	now = x.Now()
	if err == nil {
		return x.recordApplied(ctx, msg, in, st, rev, pol, rc, res, now, in.Reason)
	}
	return x.failed(ctx, msg, in, st, rev, rc, err, rt)
}

// copyObserved carries what a live read learnt into a state re-read for
// an update.
func copyObserved(dst, src *TargetState) {
	dst.Value, dst.Name, dst.Known, dst.Status, dst.ReadAt, dst.Prepaid = src.Value, src.Name, src.Known, src.Status, src.ReadAt, src.Prepaid
	dst.Temporary = src.Temporary
	dst.Cycle = src.Cycle
	if src.LastChange != nil && src.LastChange.Outside {
		dst.LastChange = src.LastChange
	}
	if src.LockedUntil.After(dst.LockedUntil) {
		dst.LockedUntil = src.LockedUntil
	}
	dst.Scheduled = src.Scheduled
	dst.UpCooldownUntil, dst.DownCooldownUntil, dst.DowngradeLimit = src.UpCooldownUntil, src.DownCooldownUntil, src.DowngradeLimit
}

func (x *Executor) terminal(in *Intent, reason string) {
	if x.Metrics != nil && reason != "" {
		x.Metrics.TerminalFailures.WithLabelValues(in.Target.Account, reason).Inc()
	}
}

func (x *Executor) current(ctx context.Context, acct *Account, t providers.Target) (providers.Spec, error) {
	cctx, cancel := context.WithTimeout(ctx, acct.Timeout)
	defer cancel()
	spec, err := acct.Provider.Current(cctx, t)
	x.countCall(acct, "current", err)
	return spec, err
}

func (x *Executor) countCall(acct *Account, op string, err error) {
	if x.Metrics == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = providers.ClassOf(err).String()
	}
	x.Metrics.ProviderCalls.WithLabelValues(acct.Name, op, result).Inc()
}

// apply calls the provider, keeping the message alive while it waits.
func (x *Executor) apply(ctx context.Context, msg jetstream.Msg, acct *Account, in *Intent, ackWait time.Duration) (providers.Result, error) {
	cctx, cancel := context.WithTimeout(ctx, acct.Timeout)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(max(ackWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-done:
				return
			}
		}
	}()
	res, err := acct.Provider.Apply(cctx, providers.Change{Target: in.Target, Value: in.Value, Name: in.Name, Token: in.ID, Temporary: in.Temporary})
	x.countCall(acct, "apply", err)
	return res, err
}

// recordApplied records an accepted change. The value it changed from comes
// from the write-ahead record: after a crash the live value already is the
// new one, and a downgrade must still be counted. seen is the target's state
// at KV revision rev, with what the live read observed.
func (x *Executor) recordApplied(ctx context.Context, msg jetstream.Msg, in *Intent, seen *TargetState, rev uint64, pol *policy.Policy, rc providers.ResourceCaps, res providers.Result, at time.Time, reason string) error {
	from, fromKnown := seen.Value, seen.Known
	if p := seen.Pending; p != nil && p.IntentID == in.ID {
		from, fromKnown = p.From, p.FromKnown
	}
	down := fromKnown && in.Value < from
	etype := EventApplied
	if res.Outcome == providers.Processing || res.Outcome == providers.NextCycle {
		etype = EventScheduled
	}
	mutate := func(s *TargetState) {
		copyObserved(s, seen)
		switch res.Outcome {
		case providers.Processing, providers.NextCycle:
			s.Scheduled = &providers.Pending{Value: in.Value, Name: in.Name, State: res.Outcome, EffectiveAt: res.EffectiveAt}
		default:
			s.Value, s.Name, s.Known = in.Value, in.Name, true
			s.Scheduled = nil
		}
		s.LastChange = &Change{At: at, From: from, To: in.Value, Name: in.Name, Kind: in.Kind, IntentID: in.ID, Reason: in.Reason}
		if lock := at.Add(rc.ChangeLock); lock.After(s.LockedUntil) {
			s.LockedUntil = lock
		}
		if down && downgradeLimited(rc, s) {
			s.Cycle.Downgrades++
		}
		s.LastError = nil
		s.stamp(pol, rc)
		if in.Kind == KindBoost && in.Temporary != nil && s.Boost == nil {
			// A native boost published by something other than the boost
			// engine: record it so that it floors the target until its end.
			s.Boost = &Boost{ID: in.ID, Value: in.Value, Until: in.Temporary.End, Reason: in.Reason, Native: true}
		}
	}
	e := Event{Type: etype, From: f64(from), To: f64(in.Value), Reason: reason}
	if res.OrderID != "" {
		e.Reason += "; order " + res.OrderID
	}
	return x.finishOver(ctx, msg, in, e, mutate, seen, rev)
}

func (x *Executor) failed(ctx context.Context, msg jetstream.Msg, in *Intent, st *TargetState, rev uint64, rc providers.ResourceCaps, err error, rt *Runtime) error {
	now := x.Now()
	ei := errorInfo(now, in.ID, err)
	class := providers.ClassOf(err)
	attempts := st.Pending.Attempts
	switch class {
	case providers.ClassUnknown, providers.ClassRetryLater, providers.ClassInProgress, providers.ClassCooldown, providers.ClassStatus:
		if attempts >= rt.Executor.MaxAttempts {
			x.terminal(in, "retries_exhausted")
			return x.finish(ctx, msg, in, Event{Type: EventFailed, To: f64(in.Value),
				Reason: fmt.Sprintf("gave up after %d provider calls", attempts), Error: ei}, func(s *TargetState) {
				copyObserved(s, st)
				s.LastError = ei
			})
		}
		wait := x.backoff(attempts, rt)
		if ra := providers.RetryAfterOf(err); ra > wait {
			wait = ra
		}
		if class == providers.ClassCooldown {
			lock := now.Add(max(wait, rc.ChangeLock))
			if ra := providers.RetryAfterOf(err); ra > 0 {
				lock = now.Add(ra)
			}
			st.LockedUntil = lock
			wait = lock.Sub(now)
		}
		if class == providers.ClassInProgress {
			wait = max(wait, 5*time.Second)
		}
		// The write-ahead record stays: an unknown outcome is settled by
		// the live read on the next try.
		st.Outcome = nil
		return x.deferTo(ctx, msg, in, st, rev, now.Add(wait), fmt.Sprintf("provider answered %s; attempt %d of %d", class, attempts, rt.Executor.MaxAttempts), ei)
	case providers.ClassQuota:
		x.terminal(in, "quota")
		return x.finish(ctx, msg, in, Event{Type: EventRefused, To: f64(in.Value), Reason: "the provider's downgrade quota is spent until the cycle ends", Error: ei},
			func(s *TargetState) {
				copyObserved(s, st)
				s.LastError = ei
				if rc.Downgrade.PerCycle > 0 {
					s.Cycle.Downgrades = max(s.Cycle.Downgrades, rc.Downgrade.PerCycle)
				}
				if rc.Downgrade.FreezeAfterDowngrade && s.Cycle.End.After(now) && isFreeze(err) {
					s.Cycle.FrozenUntil = s.Cycle.End
				}
			})
	default:
		x.terminal(in, class.String())
		return x.finish(ctx, msg, in, Event{Type: EventFailed, To: f64(in.Value), Reason: "the provider refused the change", Error: ei},
			func(s *TargetState) {
				copyObserved(s, st)
				s.LastError = ei
			})
	}
}

// isFreeze reports whether a quota error says no change at all is allowed
// until the cycle ends (Alibaba's "After downgrade, you cannot upgrade or
// downgrade…").
func isFreeze(err error) bool {
	var pe *providers.Error
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "OperationDenied" || strings.Contains(strings.ToLower(pe.Message), "remaining time of the current billing cycle")
}
