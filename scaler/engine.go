package scaler

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/scaler/source"
)

// Engine runs the evaluation loop: one runner goroutine per policy turns
// observations into decisions and decisions into intents. Polled sources
// are queried once per policy per interval for all its targets; samples
// pushed on specscale.metrics.<target> are evaluated as they arrive.
type Engine struct {
	Bus     *Bus
	Cache   *StateCache
	Events  *Events
	Metrics *Metrics
	Log     *zap.Logger
	Now     func() time.Time
	Replica string
	// Pollers are the config's polled sources by name.
	Pollers func() map[string]source.Poller
	// Synthetic serves policies with a synthetic waveform.
	Synthetic *source.Synthetic
	// Bounds, when set, moves a target's bounds (schedule windows). The
	// engine applies active boosts itself.
	Bounds func(p *policy.Policy, t providers.Target, now time.Time) policy.Bounds
	// Fleet, when set, decides which policies this replica evaluates: a
	// policy's runner evaluates only while the replica holds the policy's
	// lease, and stops the moment it loses it.
	Fleet *Fleet

	mu      sync.RWMutex
	runners map[string]*runner // by policy name
	byKey   map[string]*runner // by target key, for pushed samples
	wg      sync.WaitGroup
	memory  map[string]policy.Memory // carried across reloads, by target key
	ctx     context.Context
	sub     *nats.Subscription
	// observed holds each target's latest usable sample (by target key,
	// a *lastObservation), for the boost engine's "what does the policy
	// want now". Each target's record is made once and kept across
	// reloads; evaluations update it in place.
	observed sync.Map
	leases   map[string]*Lease // by policy name, across reloads
	tenures  map[string]uint64 // the lease tenure each policy's memory belongs to
}

// lastObservation is a target's latest usable sample. Its runner writes
// it; the boost engine reads it, hence the atomics. Storing a new value in
// the map at every evaluation allocated twice per target per tick (3 of
// the 10 allocations per target of a tick, 10 MB per tick at 100,000
// targets).
type lastObservation struct {
	value atomicFloat
	at    atomic.Int64 // Unix nanoseconds; 0: none yet
}

// LastObservation returns the latest usable metric sample of a target and
// when it was taken.
func (e *Engine) LastObservation(key string) (float64, time.Time, bool) {
	v, ok := e.observed.Load(key)
	if !ok {
		return 0, time.Time{}, false
	}
	o := v.(*lastObservation)
	at := o.at.Load()
	if at == 0 {
		return 0, time.Time{}, false
	}
	return o.value.Load(), time.Unix(0, at), true
}

// runner evaluates one policy. Its goroutine owns targets; samples reach
// it through the samples channel.
type runner struct {
	p       *policy.Policy
	rt      *Runtime
	poller  source.Poller
	pushed  bool
	targets []*targetRun
	index   map[string]int // instance → position
	samples chan pushedSample
	cancel  context.CancelFunc
	done    chan struct{}
	// lease is the policy's lease (nil without a fleet); tenure the one
	// the targets' memory belongs to.
	lease  *Lease
	tenure uint64
}

type pushedSample struct {
	instance string
	value    float64
}

type targetRun struct {
	t   providers.Target
	key string
	mem policy.Memory
	// Times below are Unix nanoseconds: a target's run then takes 512
	// bytes rather than 576, which is 6 MB at 100,000 targets.
	//
	// inflight is the last intent this runner published for the target,
	// until its outcome is recorded or it goes stale.
	inflight      string
	inflightValue float64
	inflightUntil int64
	// After an intent of ours is refused or fails for good, the same value
	// is not asked for again until holdUntil: the next evaluation would
	// only be refused again.
	holdValue  float64
	holdUntil  int64
	lastSample int64
	missing    bool
	blocked    policy.Reason
	gauges     targetGauges
	last       *lastObservation
	// scratch for one tick
	obs policy.Observation
	dup bool
}

// Start subscribes to pushed samples and starts the runners of rt; they
// run until ctx ends. Wait waits for them. Apply swaps the runners on
// reload.
func (e *Engine) Start(ctx context.Context, rt *Runtime) error {
	e.mu.Lock()
	e.memory = map[string]policy.Memory{}
	e.leases, e.tenures = map[string]*Lease{}, map[string]uint64{}
	e.ctx = ctx
	e.mu.Unlock()
	if e.Metrics != nil {
		e.Metrics.attach(e)
	}
	sub, err := e.Bus.NC.Subscribe(MetricPrefix+">", func(m *nats.Msg) { e.onSample(m) })
	if err != nil {
		return err
	}
	// The subscription is in place on the server before Start returns.
	if err := e.Bus.NC.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return err
	}
	e.sub = sub
	e.Apply(rt)
	e.settle(ctx)
	return nil
}

// settle waits, within one lease TTL, until the first race for each
// policy's lease is decided, so that a replica that is ready evaluates what
// it will evaluate.
func (e *Engine) settle(ctx context.Context) {
	if e.Fleet == nil {
		return
	}
	e.mu.RLock()
	var ls []*Lease
	for _, l := range e.leases {
		ls = append(ls, l)
	}
	e.mu.RUnlock()
	limit := time.NewTimer(e.Fleet.TTL)
	defer limit.Stop()
	for _, l := range ls {
		select {
		case <-l.Settled():
		case <-limit.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Wait blocks until the context given to Start ends and every runner has
// stopped.
func (e *Engine) Wait() {
	<-e.ctx.Done()
	_ = e.sub.Unsubscribe()
	e.stopAll()
	e.mu.Lock()
	var ls []*Lease
	for _, l := range e.leases {
		ls = append(ls, l)
	}
	e.leases = nil
	e.mu.Unlock()
	stopLeases(ls)
}

// Leads reports whether this replica evaluates policy now: always without a
// fleet, else while it holds the policy's lease.
//
// Work that belongs to one policy and must happen once across the fleet —
// its schedule windows, the revert of a boost on one of its targets — runs
// where the policy is evaluated: check Leads right before acting (the lease
// may end at any moment after, so the action must be an idempotent desired
// value, as every intent is).
func (e *Engine) Leads(policy string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.Fleet == nil {
		return e.runners[policy] != nil
	}
	l := e.leases[policy]
	return l != nil && l.Held()
}

// Apply replaces the runners with those of rt. Evaluation memory (sustain
// timers, stabilisation windows) carries over for targets that stay, and
// policies keep their leases; the leases of removed policies are released.
func (e *Engine) Apply(rt *Runtime) {
	e.stopAll()
	stopLeases(e.start(rt))
}

func stopLeases(ls []*Lease) {
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() { defer wg.Done(); l.Stop() }()
	}
	wg.Wait()
}

// start starts the runners of rt and returns the leases of policies that
// are gone.
func (e *Engine) start(rt *Runtime) []*Lease {
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx := e.ctx
	if ctx.Err() != nil {
		return nil // shutting down: Wait releases the leases
	}
	e.runners = map[string]*runner{}
	e.byKey = map[string]*runner{}
	pollers := map[string]source.Poller{}
	if e.Pollers != nil {
		pollers = e.Pollers()
	}
	for _, p := range rt.Policies {
		r := &runner{p: p, rt: rt, index: map[string]int{}, done: make(chan struct{})}
		switch {
		case p.Metric.Synthetic != nil:
			r.poller = e.Synthetic
		case pollers[p.Metric.Source] != nil:
			r.poller = pollers[p.Metric.Source]
		default:
			r.pushed = true
			r.samples = make(chan pushedSample, 1024)
		}
		for i, t := range Targets(p) {
			tr := &targetRun{t: t, key: t.Key()}
			if m, ok := e.memory[tr.key]; ok {
				tr.mem = m
			}
			if o, ok := e.observed.Load(tr.key); ok {
				tr.last = o.(*lastObservation)
			} else {
				tr.last = &lastObservation{}
				e.observed.Store(tr.key, tr.last)
			}
			r.targets = append(r.targets, tr)
			r.index[t.Instance] = i
			e.byKey[tr.key] = r
		}
		if e.Fleet != nil {
			r.lease = e.leases[p.Name]
			if r.lease == nil {
				r.lease = e.Fleet.Campaign(PolicyLease(p.Name), true)
				e.leases[p.Name] = r.lease
			}
			r.tenure = e.tenures[p.Name]
		}
		rctx, cancel := context.WithCancel(ctx)
		r.cancel = cancel
		e.runners[p.Name] = r
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer close(r.done)
			e.run(rctx, r)
		}()
	}
	// The runners hold the memory now; stopAll saves it again on the next
	// reload. Kept here it would double the engine's memory per target
	// (300 bytes each) and keep the targets a reload removed.
	clear(e.memory)
	var gone []*Lease
	for name, l := range e.leases {
		if rt.Policies[name] == nil {
			gone = append(gone, l)
			delete(e.leases, name)
			delete(e.tenures, name)
		}
	}
	return gone
}

// run evaluates r's policy: at once without a fleet, else whenever this
// replica holds the policy's lease. Only the replica evaluating a policy
// exports its targets' gauges.
func (e *Engine) run(ctx context.Context, r *runner) {
	if r.lease == nil {
		e.loop(ctx, r)
		return
	}
	r.lease.Do(ctx, func(lctx context.Context) {
		if t := r.lease.Tenure(); t != r.tenure {
			// Another replica may have evaluated the policy since this
			// one last did: what it remembers is stale.
			r.tenure = t
			e.freshTenure(r)
		}
		e.loop(lctx, r)
		if !r.lease.Held() {
			e.dropGauges(r)
			drain(r.samples) // the next holder has its own
		}
	})
}

func (e *Engine) freshTenure(r *runner) {
	now := e.Now()
	for _, tr := range r.targets {
		tr.mem = policy.Memory{}
		tr.inflight, tr.inflightUntil = "", 0
		tr.missing, tr.blocked = false, policy.ReasonNone
		tr.lastSample = now.UnixNano()
	}
}

func drain(samples chan pushedSample) {
	for {
		select {
		case <-samples:
		default:
			return
		}
	}
}

// dropGauges stops exporting r's targets until this replica evaluates
// them again.
func (e *Engine) dropGauges(r *runner) {
	for _, tr := range r.targets {
		tr.gauges.set.Store(false)
	}
}

func (e *Engine) stopAll() {
	e.mu.Lock()
	rs := e.runners
	e.runners, e.byKey = nil, nil
	e.mu.Unlock()
	for _, r := range rs {
		r.cancel()
	}
	e.wg.Wait()
	e.mu.Lock()
	for _, r := range rs {
		for _, tr := range r.targets {
			e.memory[tr.key] = tr.mem
		}
		if e.tenures != nil && r.lease != nil {
			e.tenures[r.p.Name] = r.tenure
		}
	}
	e.mu.Unlock()
}

// onSample routes a pushed sample to its policy's runner. It never blocks
// the NATS dispatcher: a full queue drops the sample and counts it.
func (e *Engine) onSample(m *nats.Msg) {
	key := strings.TrimPrefix(m.Subject, MetricPrefix)
	v, ok := parseSample(m.Data)
	if !ok {
		e.Log.Debug("unparseable metric sample", zap.String("subject", m.Subject))
		return
	}
	e.mu.RLock()
	r := e.byKey[key]
	e.mu.RUnlock()
	if r == nil || !r.pushed || (r.lease != nil && !r.lease.Held()) {
		return
	}
	t, err := providers.ParseKey(key)
	if err != nil {
		return
	}
	select {
	case r.samples <- pushedSample{instance: t.Instance, value: v}:
	default:
		if e.Metrics != nil {
			e.Metrics.SourceQueries.WithLabelValues("nats", "dropped").Inc()
		}
	}
}

// parseSample accepts a bare number ("12.5") or {"value": 12.5}.
func parseSample(b []byte) (float64, bool) {
	s := strings.TrimSpace(string(b))
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, true
	}
	var j struct {
		Value *float64 `json:"value"`
	}
	if err := json.Unmarshal(b, &j); err != nil || j.Value == nil {
		return 0, false
	}
	return *j.Value, true
}

func (e *Engine) loop(ctx context.Context, r *runner) {
	// A first tick at once, so a start-up or a reload does not wait a
	// whole interval.
	tick := time.NewTicker(r.p.Interval)
	defer tick.Stop()
	ticks := tick.C
	// A policy that follows its scrape job runs on a timer set to the
	// next instant just after the job's scrapes.
	var align *aligner
	var timer *time.Timer
	if ph, ok := r.poller.(source.Phaser); ok && r.p.Metric.ScrapeJob != "" {
		tick.Stop()
		align = newAligner(ph, r.p.Metric.ScrapeJob, r.p.Interval, e.Log.With(zap.String("policy", r.p.Name)))
		timer = time.NewTimer(time.Hour)
		defer timer.Stop()
		ticks = timer.C
	}
	if !r.pushed {
		e.tick(ctx, r)
	}
	if align != nil {
		timer.Reset(align.wait(ctx, time.Now()))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if r.pushed {
				e.staleSamples(ctx, r)
			} else {
				e.tick(ctx, r)
			}
			if align != nil {
				timer.Reset(align.wait(ctx, time.Now()))
			}
		case s := <-r.samples:
			if i, ok := r.index[s.instance]; ok {
				tr := r.targets[i]
				now := e.Now()
				tr.lastSample = now.UnixNano()
				e.evaluate(ctx, r, tr, policy.Observation{Value: s.value, OK: source.Usable(s.value)}, now)
			}
		}
	}
}

// staleSamples evaluates pushed targets whose samples stopped as missing.
func (e *Engine) staleSamples(ctx context.Context, r *runner) {
	now := e.Now()
	limit := 3 * r.p.Interval
	for _, tr := range r.targets {
		if now.UnixNano()-tr.lastSample > int64(limit) {
			e.evaluate(ctx, r, tr, policy.Observation{}, now)
		}
	}
}

// tick polls the policy's source once and evaluates every target.
func (e *Engine) tick(ctx context.Context, r *runner) {
	start := time.Now()
	now := e.Now()
	for _, tr := range r.targets {
		tr.obs, tr.dup = policy.Observation{}, false
	}
	err := r.poller.Poll(ctx, r.p, now, func(inst string, v float64) {
		i, ok := r.index[inst]
		if !ok {
			return
		}
		tr := r.targets[i]
		if tr.obs.OK {
			// Two series name one instance: the query should aggregate
			// by the label. Treat as missing rather than guess.
			tr.dup = true
		}
		tr.obs = policy.Observation{Value: v, OK: true}
	})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		e.Log.Warn("metric source failed; holding every target of the policy", zap.String("policy", r.p.Name), zap.Error(err))
		if e.Metrics != nil {
			e.Metrics.SourceQueries.WithLabelValues(r.p.Metric.Source, "error").Inc()
		}
	} else if e.Metrics != nil && r.p.Metric.Source != "" {
		e.Metrics.SourceQueries.WithLabelValues(r.p.Metric.Source, "ok").Inc()
	}
	for _, tr := range r.targets {
		obs := tr.obs
		if tr.dup {
			obs = policy.Observation{}
		}
		e.evaluate(ctx, r, tr, obs, now)
	}
	if e.Metrics != nil {
		e.Metrics.TickDuration.WithLabelValues(r.p.Name).Observe(time.Since(start).Seconds())
	}
}

// status builds the evaluator's view of a target from its cached state.
func (e *Engine) status(r *runner, tr *targetRun, st *TargetState, now time.Time) policy.Status {
	p := r.p
	s := policy.Status{DowngradesLeft: -1}
	if st == nil {
		return s
	}
	s.Current, s.Known = st.Value, st.Known
	if st.LastChange != nil {
		s.LastChange = st.LastChange.At
	}
	s.LockedUntil = st.LockedUntil
	s.FrozenUntil = st.Cycle.FrozenUntil
	if acct := r.rt.Accounts[tr.t.Account]; acct != nil {
		if rc, ok := acct.Caps.Resource(tr.t.Resource); ok {
			s.UpgradeOnly = rc.Downgrade.UpgradeOnly
			s.DowngradesLeft = DowngradesLeft(rc, st)
			if s.DowngradesLeft >= 0 && !st.Cycle.End.IsZero() && !now.Before(st.Cycle.End) {
				s.DowngradesLeft = rc.Downgrade.PerCycle // the cycle has rolled
				s.FrozenUntil = time.Time{}
			}
		}
	}
	s.InFlight = st.Pending != nil || (st.Scheduled != nil && st.Scheduled.State == providers.Processing)
	if tr.inflight != "" {
		ended := st.Outcome != nil && st.Outcome.IntentID == tr.inflight && st.Outcome.Result != string(EventDeferred)
		resolved := st.wasApplied(tr.inflight) || now.UnixNano() > tr.inflightUntil || ended
		if ended && (st.Outcome.Result == string(EventRefused) || st.Outcome.Result == string(EventFailed)) {
			tr.holdValue, tr.holdUntil = tr.inflightValue, now.Add(r.rt.Executor.IntentTTL).UnixNano()
		}
		if resolved {
			tr.inflight = ""
		} else {
			s.InFlight = true
		}
	}
	b := p.Bounds()
	if e.Bounds != nil {
		b = e.Bounds(p, tr.t, now)
	}
	if bo := st.Boost; bo != nil && now.Before(bo.Until) && bo.Value > b.Min {
		b.Min, b.MinBy = bo.Value, "boost"
		if b.Max < b.Min {
			b.Max, b.MaxBy = b.Min, "boost"
		}
		// The boost engine's own intent is on its way (it may carry a
		// native window): don't race it with a plain raise of our own.
		if boostPending(st, bo, now) {
			s.InFlight = true
		}
	}
	s.Bounds = b
	return s
}

func (e *Engine) evaluate(ctx context.Context, r *runner, tr *targetRun, obs policy.Observation, now time.Time) {
	if obs.OK && tr.last != nil {
		tr.last.value.Store(obs.Value)
		tr.last.at.Store(now.UnixNano())
	}
	st := e.Cache.Get(tr.key)
	status := e.status(r, tr, st, now)
	d := r.p.Evaluate(&tr.mem, status, obs, now)
	if e.Metrics != nil {
		e.Metrics.EvaluationsTotal.Inc()
		if g := &tr.gauges; status.Known {
			g.value.Store(status.Current)
			if obs.OK {
				g.util.Store(d.Utilisation)
			}
			g.cooldown.Store(max(status.LockedUntil.Sub(now).Seconds(), 0))
			g.downgrades.Store(float64(status.DowngradesLeft))
			g.set.Store(true)
		}
	}
	if !obs.OK && d.Reason == policy.ReasonMissingData {
		if !tr.missing {
			tr.missing = true
			if e.Metrics != nil {
				e.Metrics.MissingData.WithLabelValues(r.p.Name).Inc()
			}
			e.Events.Publish(ctx, Event{Type: EventMissingData, Target: tr.key, Policy: r.p.Name,
				Reason: "no usable sample: holding the target where it is"})
		}
		return
	}
	if obs.OK {
		tr.missing = false
	}
	if !d.Changes() {
		if d.Reason.Blocked() && d.Reason != tr.blocked {
			tr.blocked = d.Reason
			if e.Metrics != nil {
				e.Metrics.Decisions.WithLabelValues(r.p.Name, "blocked", d.Reason.String()).Inc()
			}
			e.Events.Publish(ctx, Event{Type: EventBlocked, Target: tr.key, Policy: r.p.Name, From: f64(d.From), To: f64(d.To), Reason: d.Explain(now)})
		} else if !d.Reason.Blocked() {
			tr.blocked = policy.ReasonNone
		}
		return
	}
	tr.blocked = policy.ReasonNone
	if d.To == tr.holdValue && now.UnixNano() < tr.holdUntil {
		return // refused a moment ago; the state and events say why
	}
	if st != nil && st.Scheduled != nil && st.Scheduled.State == providers.NextCycle && d.Action == policy.ScaleDown && st.Scheduled.Value <= d.To {
		return // the provider already holds a next-cycle downgrade this low
	}
	e.publishDecision(ctx, r, tr, d, now)
}

func kindOf(d policy.Decision) Kind {
	switch d.Reason {
	case policy.ReasonBelowMin, policy.ReasonAboveMax:
		switch {
		case d.By == "boost":
			return KindBoost
		case strings.HasPrefix(d.By, "schedule"):
			return KindSchedule
		}
	}
	if d.Action == policy.ScaleDown {
		return KindScaleDown
	}
	return KindScaleUp
}

func (e *Engine) publishDecision(ctx context.Context, r *runner, tr *targetRun, d policy.Decision, now time.Time) {
	kind := kindOf(d)
	name := r.p.NameOf(d.To)
	in := &Intent{
		ID: IntentID(tr.t, kind, d.To, name, now), Target: tr.t, Value: d.To, Name: name,
		Kind: kind, Policy: r.p.Name, Reason: d.Explain(now), CreatedAt: now,
		NotAfter: now.Add(r.rt.Executor.IntentTTL), Replica: e.Replica,
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := PublishIntent(pctx, e.Bus.JS, in); err != nil {
		// Not in flight: the next evaluation decides again.
		e.Log.Warn("cannot publish intent", zap.String("target", tr.key), zap.String("policy", r.p.Name), zap.Error(err))
		return
	}
	tr.inflight, tr.inflightValue, tr.inflightUntil = in.ID, in.Value, in.NotAfter.UnixNano()
	if e.Metrics != nil {
		e.Metrics.Decisions.WithLabelValues(r.p.Name, d.Action.String(), d.Reason.String()).Inc()
		e.Metrics.IntentsPublished.WithLabelValues(r.p.Name, string(kind)).Inc()
	}
	e.Events.Publish(ctx, Event{Type: EventDecision, Target: tr.key, Policy: r.p.Name, IntentID: in.ID, Kind: kind,
		From: f64(d.From), To: f64(d.To), Reason: in.Reason})
}
