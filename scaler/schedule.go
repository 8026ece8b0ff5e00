package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// ScheduleBucket is the KV bucket of schedule fire records: one key per
// schedule, "<policy>.<schedule>", holding the last fire handled.
const ScheduleBucket = "specscale_schedules"

// Schedule event types.
const (
	// EventScheduleMissed: a one-shot set fired while specscale was down
	// and is not replayed (catch_up: none).
	EventScheduleMissed EventType = "schedule_missed"
	// EventWindowOpened and EventWindowClosed mark a window's edges as
	// the scheduler sees them; the engine applies the bounds at its next
	// evaluation of each target.
	EventWindowOpened EventType = "schedule_window_opened"
	EventWindowClosed EventType = "schedule_window_closed"
)

// Fire record states.
const (
	// FireClaimed: a replica took the fire and is publishing its
	// intents. Found at start-up, it means a crash in between: the
	// intents are published again under the same IDs, which is harmless.
	FireClaimed = "claimed"
	// FirePublished: every intent of the fire is on the bus.
	FirePublished = "published"
	// FireSkipped: the fire was missed while down and not replayed, or
	// a later fire superseded it.
	FireSkipped = "skipped"
)

// FireRecord is a schedule's last handled fire. A fire is never applied
// twice: it is claimed with a compare-and-set before its intents are
// published, and its intents' IDs derive from the fire time.
type FireRecord struct {
	Fire    time.Time `json:"fire"`
	State   string    `json:"state"`
	At      time.Time `json:"at"`
	Replica string    `json:"replica,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// OpenScheduleBucket creates or updates the fire-record bucket.
func OpenScheduleBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ScheduleBucket,
		Description: "specscale schedules: the last fire handled per schedule",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("create kv %s: %w", ScheduleBucket, err)
	}
	return kv, nil
}

// Scheduler turns schedules into action. One-shot sets publish an intent
// per target at each fire; windows need no intent of their own — the
// engine reads them through Policy.BoundsAt at every evaluation — so for
// windows the scheduler only reports their edges.
//
// Run's goroutine owns the scheduler's state; the daemon starts it and
// waits for it. Startup and Step are its two moves, exported for tests
// over an injected clock.
type Scheduler struct {
	JS jetstream.JetStream
	// KV holds fire records; Run opens ScheduleBucket when it is nil.
	KV      jetstream.KeyValue
	Cache   *StateCache
	Events  *Events
	Log     *zap.Logger
	Runtime func() *Runtime
	Now     func() time.Time
	Replica string
	// Replicas of the bucket when Run creates it.
	Replicas int
	// Kick asks for a look now: the daemon sends after a reload, so
	// that added, changed or removed schedules count at once.
	Kick <-chan struct{}
	// MaxSleep caps one wait, so that a stepped clock is noticed
	// (default one minute).
	MaxSleep time.Duration
	// Leads, when set, says whether this replica leads the fleet: only the
	// leader fires schedules, reports windows and publishes plans. A
	// follower keeps its cursor, so that on taking over it handles what
	// fell due since; fire records in KV keep every fire to one.
	Leads func() bool

	open map[string]openWindow // windows reported open, by key
	// plans are the plan records last written, by key.
	plans map[string]string
}

// planPrefix marks the keys of schedule plans in the schedule bucket;
// fire records are "<policy>.<schedule>", plans "plan.<policy>.<schedule>".
const planPrefix = "plan."

// SchedulePlan is what the daemon publishes about each schedule so that
// `specscale status` can show it from NATS alone: what it does and its
// next fires.
type SchedulePlan struct {
	Policy    string     `json:"policy"`
	Schedule  string     `json:"schedule"`
	Describe  string     `json:"describe"`
	Timezone  string     `json:"timezone"`
	Next      []PlanFire `json:"next"`
	Notes     []string   `json:"notes,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
	Replica   string     `json:"replica,omitempty"`
	// Last is the schedule's last handled fire, filled in by
	// SchedulePlans from the fire records.
	Last *FireRecord `json:"last,omitempty"`
}

// PlanFire is one coming fire; End is set for windows.
type PlanFire struct {
	At  time.Time `json:"at"`
	End time.Time `json:"end,omitzero"`
}

// publishPlans writes each schedule's next three fires to the bucket when
// they changed, and deletes the plans of schedules that are gone.
func (s *Scheduler) publishPlans(ctx context.Context, now time.Time) {
	if s.plans == nil {
		s.plans = map[string]string{}
	}
	seen := map[string]bool{}
	for _, u := range policy.NextFires(s.policies(), now, 3) {
		key := planPrefix + scheduleKey(&policy.Policy{Name: u.Policy}, u.Schedule)
		seen[key] = true
		plan := SchedulePlan{Policy: u.Policy, Schedule: u.Schedule.Name, Describe: u.Schedule.Describe(),
			Timezone: u.Schedule.Location().String(), Notes: u.Notes, Replica: s.Replica}
		for _, f := range u.Fires {
			plan.Next = append(plan.Next, PlanFire{At: f.At.UTC(), End: f.End.UTC()})
		}
		body, _ := json.Marshal(plan.Next)
		fingerprint := plan.Describe + string(body)
		if s.plans[key] == fingerprint {
			continue
		}
		plan.UpdatedAt = now
		b, err := json.Marshal(plan)
		if err != nil {
			continue
		}
		if _, err := s.KV.Put(ctx, key, b); err != nil {
			s.Log.Warn("cannot publish a schedule's plan", zap.String("schedule", key), zap.Error(err))
			continue
		}
		s.plans[key] = fingerprint
	}
	for key := range s.plans {
		if !seen[key] {
			_ = s.KV.Delete(ctx, key)
			delete(s.plans, key)
		}
	}
}

// SchedulePlans reads every schedule's plan and last fire, sorted by
// policy and schedule.
func SchedulePlans(ctx context.Context, kv jetstream.KeyValue) ([]SchedulePlan, error) {
	fires, err := FireRecords(ctx, kv)
	if err != nil {
		return nil, err
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []SchedulePlan
	for _, k := range keys {
		if !strings.HasPrefix(k, planPrefix) || strings.Count(k, ".") != 2 {
			continue
		}
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var p SchedulePlan
		if json.Unmarshal(e.Value(), &p) != nil {
			continue
		}
		if rec, ok := fires[p.Policy+"."+p.Schedule]; ok {
			p.Last = &rec
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Policy != out[j].Policy {
			return out[i].Policy < out[j].Policy
		}
		return out[i].Schedule < out[j].Schedule
	})
	return out, nil
}

type openWindow struct {
	policy string
	w      policy.Window
}

// ScheduleBounds is the engine's Bounds hook: a policy's bounds with its
// active schedule windows applied.
func ScheduleBounds(p *policy.Policy, _ providers.Target, now time.Time) policy.Bounds {
	return p.BoundsAt(now)
}

// Run handles schedules until ctx ends. It never returns an error for a
// failed fire: a fire that could not be published is retried while it is
// still the schedule's latest.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.MaxSleep == 0 {
		s.MaxSleep = time.Minute
	}
	for s.KV == nil {
		kv, err := OpenScheduleBucket(ctx, s.JS, s.Replicas)
		if err == nil {
			s.KV = kv
			break
		}
		s.Log.Warn("schedule bucket not ready; retrying", zap.Error(err))
		if sleepCtx(ctx, time.Second) != nil {
			return nil
		}
	}
	cursor := s.Now()
	for {
		err := s.Startup(ctx, cursor)
		if err == nil {
			break
		}
		s.Log.Warn("schedule start-up incomplete; retrying", zap.Error(err))
		if sleepCtx(ctx, 2*time.Second) != nil {
			return nil
		}
		cursor = s.Now()
	}
	s.publishPlans(ctx, cursor)
	retry := false
	for {
		wait := s.MaxSleep
		if retry {
			wait = 2 * time.Second
		} else if wake := s.nextWake(cursor); !wake.IsZero() {
			wait = min(max(wake.Sub(s.Now()), 0), s.MaxSleep)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.Kick:
			t.Stop()
		case <-t.C:
		}
		now := s.Now()
		if now.Before(cursor) {
			continue // the clock stepped back: wait until it passes the cursor
		}
		if s.Leads != nil && !s.Leads() {
			continue
		}
		next, err := s.Step(ctx, cursor, now)
		retry = err != nil
		s.publishPlans(ctx, now)
		if retry && ctx.Err() == nil {
			s.Log.Warn("schedule fire not published; retrying", zap.Error(err))
		}
		cursor = next
	}
}

// key names a schedule's fire record.
func scheduleKey(p *policy.Policy, sc *policy.Schedule) string { return p.Name + "." + sc.Name }

// policies returns the runtime's policies in name order.
func (s *Scheduler) policies() []*policy.Policy {
	rt := s.Runtime()
	if rt == nil {
		return nil
	}
	out := make([]*policy.Policy, 0, len(rt.Policies))
	for _, p := range rt.Policies {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Startup works out, at now, what happened while the daemon was down:
// each one-shot set's latest fire is applied once if the schedule says
// catch_up: latest, and recorded as skipped otherwise; a fire claimed
// but not finished before a crash is finished. Windows active now are
// reported open (the engine applies them by itself). It returns the
// catch-ups that failed; running it again is harmless.
func (s *Scheduler) Startup(ctx context.Context, now time.Time) error {
	var errs []error
	for _, p := range s.policies() {
		for _, sc := range p.Schedules {
			if sc.Kind != policy.ScheduleSet || !sc.Compiled() {
				continue
			}
			if err := s.catchUp(ctx, p, sc, now); err != nil {
				errs = append(errs, fmt.Errorf("catch up schedule %s of policy %s: %w", sc.Name, p.Name, err))
			}
		}
	}
	s.windows(ctx, now)
	return errors.Join(errs...)
}

// catchUpLookback bounds how far back a missed fire is looked for.
const catchUpLookback = 400 * 24 * time.Hour

func (s *Scheduler) catchUp(ctx context.Context, p *policy.Policy, sc *policy.Schedule, now time.Time) error {
	f, ok := sc.Latest(now, catchUpLookback)
	if !ok {
		return nil
	}
	key := scheduleKey(p, sc)
	rec, rev, err := s.record(ctx, key)
	if err != nil {
		return err
	}
	switch {
	case rec != nil && rec.Fire.After(f):
		return nil
	case rec != nil && rec.Fire.Equal(f) && rec.State != FireClaimed:
		return nil
	case rec != nil && rec.Fire.Equal(f):
		return s.fire(ctx, p, sc, f, now, "finishing a fire interrupted by a restart")
	case sc.CatchUp == policy.CatchUpLatest:
		return s.fire(ctx, p, sc, f, now, "caught up at start-up (catch_up: latest)")
	}
	detail := fmt.Sprintf("fired at %s while specscale was down; not replayed (catch_up: none)", f.UTC().Format(time.RFC3339))
	if rec == nil {
		// A schedule seen for the first time: its past is not a miss.
		detail = fmt.Sprintf("first seen; its last fire at %s came before it", f.UTC().Format(time.RFC3339))
	}
	if _, err := s.putRecord(ctx, key, &FireRecord{Fire: f, State: FireSkipped, At: now, Replica: s.Replica, Detail: detail}, rev); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil // another replica handled it
		}
		return err
	}
	if rec == nil {
		s.Log.Info("schedule "+detail, zap.String("policy", p.Name), zap.String("schedule", sc.Name))
		return nil
	}
	return s.Events.Publish(ctx, Event{Type: EventScheduleMissed, Policy: p.Name,
		Reason: fmt.Sprintf("schedule %s (%s) %s", sc.Name, sc.Describe(), detail)})
}

// Step handles what falls due in (from, to]: each one-shot set's latest
// fire in it (earlier ones in the same step are superseded), and the
// windows' edges at to. It returns the cursor for the next step: to, or
// just before the earliest fire that failed, so that it is tried again.
func (s *Scheduler) Step(ctx context.Context, from, to time.Time) (time.Time, error) {
	next := to
	var errs []error
	for _, p := range s.policies() {
		for _, sc := range p.Schedules {
			if sc.Kind != policy.ScheduleSet || !sc.Compiled() {
				continue
			}
			var last time.Time
			sc.Between(from, to, func(f time.Time) bool { last = f; return true })
			if last.IsZero() {
				continue
			}
			if err := s.fire(ctx, p, sc, last, to, ""); err != nil {
				errs = append(errs, fmt.Errorf("schedule %s of policy %s at %s: %w", sc.Name, p.Name, last.UTC().Format(time.RFC3339), err))
				if back := last.Add(-time.Nanosecond); back.Before(next) {
					next = back
				}
			}
		}
	}
	s.windows(ctx, to)
	return next, errors.Join(errs...)
}

// fire applies one fire of a one-shot set, at most once across restarts
// and replicas: claim it in KV, publish an intent per target, mark it
// published.
func (s *Scheduler) fire(ctx context.Context, p *policy.Policy, sc *policy.Schedule, f, now time.Time, note string) error {
	key := scheduleKey(p, sc)
	var rev uint64
	for attempt := 0; ; attempt++ {
		rec, r, err := s.record(ctx, key)
		if err != nil {
			return err
		}
		if rec != nil && (rec.Fire.After(f) || (rec.Fire.Equal(f) && rec.State != FireClaimed)) {
			return nil // handled already, here or by another replica
		}
		if rec != nil && rec.Fire.Equal(f) {
			rev = r // claimed but not finished: finish it
			break
		}
		rev, err = s.putRecord(ctx, key, &FireRecord{Fire: f, State: FireClaimed, At: now, Replica: s.Replica}, r)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) || attempt >= 5 {
			return err
		}
	}

	// The intent waits for guards until the schedule fires again, and
	// a day at most.
	notAfter := now.Add(24 * time.Hour)
	if n := sc.Next(f); !n.IsZero() && n.Before(notAfter) {
		notAfter = n
	}
	if !now.Before(notAfter) {
		_, err := s.putRecord(ctx, key, &FireRecord{Fire: f, State: FireSkipped, At: now, Replica: s.Replica, Detail: "superseded by a later fire"}, rev)
		if errors.Is(err, ErrConflict) {
			err = nil
		}
		return err
	}
	for _, t := range Targets(p) {
		tkey := t.Key()
		st := s.Cache.Get(tkey)
		b := withBoost(p.BoundsAt(now), st, now)
		v, clamp := p.SetTo(sc, b)
		reason := fmt.Sprintf("schedule %s fired at %s: set %s", sc.Name, f.In(sc.Location()).Format("2006-01-02 15:04:05 MST"), sc.Set)
		if clamp != "" {
			reason += "; " + clamp
		}
		if note != "" {
			reason += "; " + note
		}
		name := p.NameOf(v)
		in := &Intent{
			ID: IntentID(t, KindSchedule, v, name, f), Target: t, Value: v, Name: name,
			Kind: KindSchedule, Policy: p.Name, Reason: reason, CreatedAt: now, NotAfter: notAfter, Replica: s.Replica,
		}
		if err := PublishIntent(ctx, s.JS, in); err != nil {
			return err // the claim stays: the next try publishes under the same IDs
		}
		e := Event{Type: EventDecision, Target: tkey, Policy: p.Name, IntentID: in.ID, Kind: KindSchedule, To: f64(v), Reason: reason}
		if st != nil && st.Known {
			e.From = f64(st.Value)
		}
		_ = s.Events.Publish(ctx, e)
	}
	_, err := s.putRecord(ctx, key, &FireRecord{Fire: f, State: FirePublished, At: now, Replica: s.Replica, Detail: note}, rev)
	if errors.Is(err, ErrConflict) {
		err = nil // another replica finished the same fire
	}
	return err
}

// withBoost applies an active boost on top of bounds, as the engine's
// status does: a boost outranks schedules.
func withBoost(b policy.Bounds, st *TargetState, now time.Time) policy.Bounds {
	if st == nil || st.Boost == nil || !now.Before(st.Boost.Until) || st.Boost.Value <= b.Min {
		return b
	}
	b.Min, b.MinBy = st.Boost.Value, "boost"
	if b.Max < b.Min {
		b.Max, b.MaxBy = b.Min, "boost"
	}
	return b
}

// windows reports windows that opened or closed since the last look.
func (s *Scheduler) windows(ctx context.Context, now time.Time) {
	if s.open == nil {
		s.open = map[string]openWindow{}
	}
	seen := map[string]bool{}
	for _, p := range s.policies() {
		for _, w := range p.ActiveWindows(now) {
			key := scheduleKey(p, w.Schedule)
			seen[key] = true
			if prev, ok := s.open[key]; ok && prev.w.Start.Equal(w.Start) {
				continue
			}
			s.open[key] = openWindow{policy: p.Name, w: w}
			loc := w.Schedule.Location()
			reason := fmt.Sprintf("schedule %s (%s) open from %s until %s", w.Schedule.Name, w.Schedule.Describe(),
				w.Start.In(loc).Format("2006-01-02 15:04:05 MST"), w.End.In(loc).Format("2006-01-02 15:04:05 MST"))
			_ = s.Events.Publish(ctx, Event{Type: EventWindowOpened, Policy: p.Name, Reason: reason})
		}
	}
	for key, ow := range s.open {
		if seen[key] {
			continue
		}
		delete(s.open, key)
		reason := fmt.Sprintf("schedule %s closed; the policy's own bounds apply again", ow.w.Schedule.Name)
		if now.Before(ow.w.End) {
			reason = fmt.Sprintf("schedule %s removed or changed by a reload before its end; the policy's own bounds apply again", ow.w.Schedule.Name)
		}
		_ = s.Events.Publish(ctx, Event{Type: EventWindowClosed, Policy: ow.policy, Reason: reason})
	}
}

// nextWake is the earliest instant after t when something falls due: a
// set's fire, a window's start, an open window's end.
func (s *Scheduler) nextWake(t time.Time) time.Time {
	var wake time.Time
	earlier := func(c time.Time) {
		if !c.IsZero() && c.After(t) && (wake.IsZero() || c.Before(wake)) {
			wake = c
		}
	}
	for _, p := range s.policies() {
		for _, sc := range p.Schedules {
			earlier(sc.Next(t))
		}
	}
	for _, ow := range s.open {
		earlier(ow.w.End)
	}
	return wake
}

func (s *Scheduler) record(ctx context.Context, key string) (*FireRecord, uint64, error) {
	e, err := s.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read fire record %s: %w", key, err)
	}
	var rec FireRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("decode fire record %s: %w", key, err)
	}
	return &rec, e.Revision(), nil
}

// putRecord writes rec if the key is still at rev (0: absent), returning
// the new revision or ErrConflict.
func (s *Scheduler) putRecord(ctx context.Context, key string, rec *FireRecord, rev uint64) (uint64, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	nrev, err := putIfAt(ctx, s.KV, key, b, rev)
	if err != nil && !errors.Is(err, ErrConflict) {
		return 0, fmt.Errorf("write fire record %s: %w", key, err)
	}
	return nrev, err
}

// FireRecords returns every schedule's last handled fire, by
// "<policy>.<schedule>", for status.
func FireRecords(ctx context.Context, kv jetstream.KeyValue) (map[string]FireRecord, error) {
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return map[string]FireRecord{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]FireRecord, len(keys))
	for _, k := range keys {
		if strings.HasPrefix(k, planPrefix) && strings.Count(k, ".") == 2 {
			continue // a plan, not a fire record
		}
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var rec FireRecord
		if json.Unmarshal(e.Value(), &rec) == nil {
			out[k] = rec
		}
	}
	return out, nil
}
