package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// TargetState is one target's state in KV. It is what survives a restart:
// cooldowns, downgrade counts, active boosts and in-flight changes live here,
// never only in memory. Every write is a compare-and-set on the key's
// revision, so two executors can never both act on one target.
type TargetState struct {
	Target providers.Target `json:"target"`
	Policy string           `json:"policy,omitempty"`

	// Value is the last known live value (Name for name-valued resources);
	// Known is false until it has been read.
	Value  float64   `json:"value"`
	Name   string    `json:"name,omitempty"`
	Known  bool      `json:"known"`
	Status string    `json:"status,omitempty"`
	ReadAt time.Time `json:"read_at,omitzero"`
	// Prepaid: a subscription instance, where downgrade limits apply.
	Prepaid bool `json:"prepaid,omitempty"`
	// Temporary: the instance accepts a native temporary upgrade of this
	// resource (providers.Spec.Temporary).
	Temporary bool `json:"temporary,omitempty"`

	// Desired is the last intent an executor took up.
	Desired *Desired `json:"desired,omitempty"`
	// LastChange is the last change, made by us or found as drift.
	LastChange *Change `json:"last_change,omitempty"`
	// LockedUntil is the provider's lock after the last change.
	LockedUntil time.Time `json:"locked_until,omitzero"`
	// UpCooldownUntil and DownCooldownUntil are the owning policy's
	// cooldowns after the last change, kept here for `specscale status`.
	UpCooldownUntil   time.Time `json:"up_cooldown_until,omitzero"`
	DownCooldownUntil time.Time `json:"down_cooldown_until,omitzero"`
	// DowngradeLimit is the provider's downgrade limit per cycle for this
	// target; 0 means none applies.
	DowngradeLimit int `json:"downgrade_limit,omitempty"`
	// Cycle counts downgrades in the current billing cycle.
	Cycle Cycle `json:"cycle"`
	// Pending is a change being applied: written before the provider call,
	// so that a crash between the call and its record is recovered by
	// re-reading the live value.
	Pending *Pending `json:"pending,omitempty"`
	// Scheduled is a change the provider accepted for later (an async
	// order still processing, or a next-cycle downgrade): the target's
	// future value, not its present one.
	Scheduled *providers.Pending `json:"scheduled,omitempty"`
	// Boost is the active boost, if any.
	Boost *Boost `json:"boost,omitempty"`
	// Outcome is the last intent's end: applied, dropped, refused, failed.
	Outcome *Outcome `json:"outcome,omitempty"`
	// LastError is the last provider error.
	LastError *ErrorInfo `json:"last_error,omitempty"`
	// Applied holds the IDs of the latest applied intents, newest last, so
	// a redelivered intent is recognised and not applied twice.
	Applied []string `json:"applied,omitempty"`
}

// Desired is an intent an executor has taken up.
type Desired struct {
	IntentID string    `json:"intent_id"`
	Value    float64   `json:"value"`
	Name     string    `json:"name,omitempty"`
	Kind     Kind      `json:"kind"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// Change is one change of a target.
type Change struct {
	At       time.Time `json:"at"`
	From     float64   `json:"from"`
	To       float64   `json:"to"`
	Name     string    `json:"name,omitempty"`
	Kind     Kind      `json:"kind"`
	IntentID string    `json:"intent_id,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	// Outside marks drift: a change made outside specscale.
	Outside bool `json:"outside,omitempty"`
}

// Cycle is the billing cycle's downgrade ledger.
type Cycle struct {
	Start      time.Time `json:"start,omitzero"`
	End        time.Time `json:"end,omitzero"`
	Downgrades int       `json:"downgrades"`
	// FrozenUntil: the provider refuses every change until then.
	FrozenUntil time.Time `json:"frozen_until,omitzero"`
}

// Pending is a provider call in progress for an intent.
type Pending struct {
	IntentID string  `json:"intent_id"`
	Value    float64 `json:"value"`
	Name     string  `json:"name,omitempty"`
	// From is the value before the call, so a change found applied after
	// a crash is still recorded with its direction.
	From      float64   `json:"from"`
	FromKnown bool      `json:"from_known"`
	Started   time.Time `json:"started"`
	// Attempts counts provider write calls for this intent.
	Attempts int `json:"attempts"`
}

// Boost is an active time-boxed raise. While now is before Until it is a
// floor: the evaluator may raise the target further but not lower it, and
// the executor refuses any intent below Value. The boost engine
// (BoostManager) owns it; see boost.go for its life.
type Boost struct {
	ID     string    `json:"id"`
	Value  float64   `json:"value"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
	// Native: the provider reverts by itself at Until.
	Native bool `json:"native,omitempty"`
	// Name is the ladder name of Value, for name-valued resources.
	Name string `json:"name,omitempty"`
	// From is the target's value when the boost started; a factor applies
	// to it, so repeats never compound.
	From    float64   `json:"from"`
	Started time.Time `json:"started,omitzero"`
	Policy  string    `json:"policy,omitempty"`
	// IntentID is the latest boost intent published for it, if any, and
	// IntentUntil that intent's not-after.
	IntentID    string    `json:"intent_id,omitempty"`
	IntentUntil time.Time `json:"intent_until,omitzero"`
	// Window is the native temporary window last asked of the provider.
	Window *providers.Window `json:"window,omitempty"`
	// Triggers hold the boost up: one per alert (fingerprint + startsAt,
	// per rule) and one for a manual boost.
	Triggers []BoostTrigger `json:"triggers,omitempty"`
	// Ending is set once the boost is over and its revert is being
	// published; a crash half-way is finished by the next expiry pass.
	Ending *BoostEnd `json:"ending,omitempty"`
}

// BoostTrigger is one reason a boost is up.
type BoostTrigger struct {
	Key          string    `json:"key"`
	Source       string    `json:"source"`
	Rule         string    `json:"rule,omitempty"`
	Value        float64   `json:"value"`
	Until        time.Time `json:"until"`
	EndOnResolve bool      `json:"end_on_resolve,omitempty"`
	Reason       string    `json:"reason,omitempty"`
}

// BoostEnd records how a boost ended and where the target goes next.
type BoostEnd struct {
	At  time.Time `json:"at"`
	Why string    `json:"why"`
	// Early: ended before its time (resolved, cancelled).
	Early bool `json:"early,omitempty"`
	// RevertTo is what the policy wanted at the end; RevertID the revert
	// intent's ID, empty when the target needs no change.
	RevertTo   float64 `json:"revert_to"`
	RevertName string  `json:"revert_name,omitempty"`
	RevertID   string  `json:"revert_id,omitempty"`
	Detail     string  `json:"detail,omitempty"`
}

// Active reports whether the boost holds a floor at now.
func (b *Boost) Active(now time.Time) bool {
	return b != nil && b.Ending == nil && now.Before(b.Until)
}

// Outcome is how an intent ended.
type Outcome struct {
	IntentID string    `json:"intent_id"`
	Result   string    `json:"result"`
	At       time.Time `json:"at"`
	Detail   string    `json:"detail,omitempty"`
}

// ErrorInfo is a provider error as kept in state and events. It holds the
// provider's code, message and request ID, never a credential.
type ErrorInfo struct {
	At        time.Time `json:"at"`
	IntentID  string    `json:"intent_id,omitempty"`
	Class     string    `json:"class"`
	Code      string    `json:"code,omitempty"`
	Message   string    `json:"message"`
	RequestID string    `json:"request_id,omitempty"`
}

func errorInfo(at time.Time, intentID string, err error) *ErrorInfo {
	ei := &ErrorInfo{At: at, IntentID: intentID, Class: providers.ClassOf(err).String(), Message: err.Error()}
	var pe *providers.Error
	if errors.As(err, &pe) {
		ei.Code, ei.RequestID = pe.Code, pe.RequestID
	}
	return ei
}

// stamp records what `specscale status` needs to know of the policy and
// the provider's rules, which live in config rather than in KV.
func (s *TargetState) stamp(p *policy.Policy, rc providers.ResourceCaps) {
	if p != nil {
		s.Policy = p.Name
		if s.LastChange != nil {
			s.UpCooldownUntil = s.LastChange.At.Add(p.Up.Cooldown)
			s.DownCooldownUntil = s.LastChange.At.Add(p.Down.Cooldown)
		}
	}
	s.DowngradeLimit = 0
	if downgradeLimited(rc, s) {
		s.DowngradeLimit = rc.Downgrade.PerCycle
	}
}

const appliedMemory = 16

func (s *TargetState) markApplied(id string) {
	s.Applied = append(s.Applied, id)
	if len(s.Applied) > appliedMemory {
		s.Applied = s.Applied[len(s.Applied)-appliedMemory:]
	}
}

func (s *TargetState) wasApplied(id string) bool {
	for _, a := range s.Applied {
		if a == id {
			return true
		}
	}
	return false
}

// Store reads and writes target state in KV.
type Store struct {
	KV jetstream.KeyValue
}

// ErrConflict is returned by Update when the key changed under us.
var ErrConflict = errors.New("target state changed concurrently")

// Get returns a target's state and its revision; a missing key gives a
// fresh state and revision 0.
func (s *Store) Get(ctx context.Context, t providers.Target) (*TargetState, uint64, error) {
	e, err := s.KV.Get(ctx, t.Key())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &TargetState{Target: t}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read state of %s: %w", t, err)
	}
	var st TargetState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, 0, fmt.Errorf("decode state of %s: %w", t, err)
	}
	st.Target = t
	return &st, e.Revision(), nil
}

// Put writes st if the key is still at rev (0: the key must not exist).
// It returns the new revision, or ErrConflict.
func (s *Store) Put(ctx context.Context, st *TargetState, rev uint64) (uint64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	nrev, err := putIfAt(ctx, s.KV, st.Target.Key(), b, rev)
	if err != nil && !errors.Is(err, ErrConflict) {
		return 0, fmt.Errorf("write state of %s: %w", st.Target, err)
	}
	return nrev, err
}

// putIfAt writes value under key if the key is still at rev (0: it must
// not exist), returning the new revision, or ErrConflict when another
// writer came first.
func putIfAt(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64) (uint64, error) {
	var nrev uint64
	var err error
	if rev == 0 {
		nrev, err = kv.Create(ctx, key, value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrConflict
		}
	} else {
		nrev, err = kv.Update(ctx, key, value, rev)
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongLastSequence(err) {
		return 0, ErrConflict
	}
	return nrev, err
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Modify applies fn to the latest state and writes it with compare-and-set,
// retrying on conflict. fn returns false to write nothing.
// It returns the state and its revision.
func (s *Store) Modify(ctx context.Context, t providers.Target, fn func(*TargetState) bool) (*TargetState, uint64, error) {
	for attempt := 0; ; attempt++ {
		st, rev, err := s.Get(ctx, t)
		if err != nil {
			return nil, 0, err
		}
		if !fn(st) {
			return st, rev, nil
		}
		nrev, err := s.Put(ctx, st, rev)
		if err == nil {
			return st, nrev, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= 20 {
			return nil, 0, err
		}
		if err := sleepCtx(ctx, time.Duration(attempt+1)*5*time.Millisecond); err != nil {
			return nil, 0, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StateCache mirrors the KV bucket in memory through a watcher, so the
// evaluation loop reads state without a round trip per target.
type StateCache struct {
	mu     sync.RWMutex
	states map[string]cachedState
	ready  chan struct{}
}

type cachedState struct {
	st  *TargetState
	rev uint64
}

// NewStateCache returns an empty cache; Run fills it.
func NewStateCache() *StateCache {
	return &StateCache{states: map[string]cachedState{}, ready: make(chan struct{})}
}

// Get returns the cached state of key, or nil. Treat it as read-only.
func (c *StateCache) Get(key string) *TargetState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.states[key].st
}

// Set records a state written at revision rev, unless the cache already
// holds a newer one: the writer may be ahead of the watcher, or behind it.
func (c *StateCache) Set(st *TargetState, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := st.Target.Key()
	if cur, ok := c.states[key]; ok && cur.rev > rev {
		return
	}
	c.states[key] = cachedState{st: st, rev: rev}
}

// holds reports whether the cache has key at revision rev or later.
func (c *StateCache) holds(key string, rev uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cur, ok := c.states[key]
	return ok && cur.rev >= rev
}

// All returns every cached state.
func (c *StateCache) All() []*TargetState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*TargetState, 0, len(c.states))
	for _, s := range c.states {
		out = append(out, s.st)
	}
	return out
}

// Ready is closed once the initial values have been loaded.
func (c *StateCache) Ready() <-chan struct{} { return c.ready }

// Run watches the bucket until ctx ends. It survives NATS reconnects: the
// watcher is re-created when it stops.
func (c *StateCache) Run(ctx context.Context, kv jetstream.KeyValue) error {
	readyOnce := sync.OnceFunc(func() { close(c.ready) })
	for ctx.Err() == nil {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			if err := sleepCtx(ctx, time.Second); err != nil {
				return nil
			}
			continue
		}
		for e := range w.Updates() {
			if e == nil {
				readyOnce()
				continue
			}
			key := e.Key()
			if e.Operation() != jetstream.KeyValuePut {
				c.mu.Lock()
				delete(c.states, key)
				c.mu.Unlock()
				continue
			}
			if c.holds(key, e.Revision()) {
				// An executor that wrote this revision has cached it
				// already: decoding it again is wasted work.
				continue
			}
			var st TargetState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				continue
			}
			if t, err := providers.ParseKey(key); err == nil {
				st.Target = t
			}
			c.Set(&st, e.Revision())
		}
		_ = w.Stop()
	}
	return nil
}
