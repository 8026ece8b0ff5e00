// Package bench measures a running specscale deployment from outside, as
// `specscale bench` does: how fast a pushed sample becomes a change, how
// many intents the executors get through, and how fast the Prometheus path
// reacts and what it costs. It drives only a policy the operator names, and
// only when that policy cannot touch a real cloud: its provider account is
// the simulated one, or it runs in dry run (the executor does everything
// but the write call and records would_apply).
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/internal/benchkit"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// ErrUnsafe is returned for a policy bench refuses to drive.
var ErrUnsafe = errors.New("bench drives only a policy on a simulated account or in dry run")

// Target is a policy the benchmark may drive, with what it needs to know
// of its config.
type Target struct {
	Policy  *policy.Policy
	Account *config.Provider
	// Source is the policy's metric source, nil for a synthetic waveform.
	Source *config.Source
	// DryRun: the executor records would_apply instead of calling the
	// provider.
	DryRun bool
}

// Check finds the named policy in cfg and refuses it unless it is safe to
// drive: its account is of the simulated type, or the policy or its
// account is in dry run. sourceType, when set, is the metric source type
// the benchmark needs (nats for latency, prometheus for the Prometheus
// path).
func Check(cfg *config.Config, name, sourceType string) (*Target, error) {
	var p *policy.Policy
	for _, q := range cfg.Loaded {
		if q.Name == name {
			p = q
		}
	}
	if p == nil {
		return nil, fmt.Errorf("no policy %q in %s", name, cfg.File)
	}
	acct, _ := cfg.Provider(p.Targets.Provider)
	if acct == nil {
		return nil, fmt.Errorf("policy %q: no provider account %q", name, p.Targets.Provider)
	}
	t := &Target{Policy: p, Account: acct, DryRun: p.DryRun || acct.DryRun}
	if acct.Type != simcloud.TypeName && !t.DryRun {
		return nil, fmt.Errorf("policy %q acts on provider account %q (type %s): %w; set dry_run: true on the policy, or point it at a simulated account",
			name, acct.Name, acct.Type, ErrUnsafe)
	}
	for i := range cfg.Sources {
		if cfg.Sources[i].Name == p.Metric.Source {
			t.Source = &cfg.Sources[i]
		}
	}
	if sourceType != "" && (t.Source == nil || t.Source.Type != sourceType) {
		return nil, fmt.Errorf("policy %q: its metric source must be of type %s for this benchmark", name, sourceType)
	}
	return t, nil
}

// Warnings are what may make the figures mean something else than the
// operator expects.
func (t *Target) Warnings() []string {
	var w []string
	p := t.Policy
	if p.Up.For > 0 {
		w = append(w, fmt.Sprintf("policy %q has up.for %s: every reaction waits that long", p.Name, p.Up.For))
	}
	if p.Up.Cooldown > 0 && !t.DryRun {
		w = append(w, fmt.Sprintf("policy %q has up.cooldown %s: a target changed once waits that long before its next change", p.Name, p.Up.Cooldown))
	}
	return w
}

// Env is what every benchmark needs of the running system.
type Env struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	Store  *scaler.Store
	Target *Target
	// Timeout bounds one reaction.
	Timeout time.Duration
	// Progress receives a line now and then; may be nil.
	Progress io.Writer
}

// NewEnv opens the state bucket over nc.
func NewEnv(ctx context.Context, nc *nats.Conn, t *Target, timeout time.Duration, progress io.Writer) (*Env, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, scaler.StateBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s (is specscale running against this server?): %w", scaler.StateBucket, err)
	}
	return &Env{NC: nc, JS: js, Store: &scaler.Store{KV: kv}, Target: t, Timeout: timeout, Progress: progress}, nil
}

func (e *Env) progress(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, format+"\n", args...)
	}
}

// targets returns the policy's targets with their state, skipping those
// the daemon has not read yet and, with room, those at the policy's max
// (a sample or intent could not raise them).
func (e *Env) targets(ctx context.Context, room bool) ([]providers.Target, map[string]*scaler.TargetState, error) {
	var out []providers.Target
	states := map[string]*scaler.TargetState{}
	p := e.Target.Policy
	for _, t := range scaler.Targets(p) {
		st, _, err := e.Store.Get(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		if !st.Known || (room && st.Value >= p.Max) {
			continue
		}
		if st.Policy != "" && st.Policy != p.Name {
			return nil, nil, fmt.Errorf("the running daemon's state puts %s under policy %q, not %q: is it running the same config?", t, st.Policy, p.Name)
		}
		out = append(out, t)
		states[t.Key()] = st
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("policy %q has no target the daemon has read below its max %g", p.Name, p.Max)
	}
	return out, states, nil
}

// outcomes are the event types that end an intent well: the change was
// made, accepted for later, or (dry run) would have been made.
var outcomes = map[scaler.EventType]bool{
	scaler.EventApplied: true, scaler.EventScheduled: true, scaler.EventWouldApply: true,
}

// problems end an intent, or a decision, without a change.
var problems = map[scaler.EventType]bool{
	scaler.EventBlocked: true, scaler.EventRefused: true, scaler.EventFailed: true, scaler.EventDroppedStale: true,
	scaler.EventDroppedNoop: true, scaler.EventSuperseded: true, scaler.EventDeferred: true, scaler.EventMissingData: true,
}

// watcher routes the daemon's events to whoever waits for a target.
type watcher struct {
	sub  *nats.Subscription
	mu   sync.Mutex
	subs map[string]chan received
}

type received struct {
	e  scaler.Event
	at time.Time
}

func (e *Env) watch() (*watcher, error) {
	w := &watcher{subs: map[string]chan received{}}
	sub, err := e.NC.Subscribe(scaler.EventPrefix+">", func(m *nats.Msg) {
		at := time.Now()
		var ev scaler.Event
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		w.mu.Lock()
		ch := w.subs[ev.Target]
		w.mu.Unlock()
		if ch != nil {
			select {
			case ch <- received{ev, at}:
			default: // the waiter has gone; never block the connection
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if err := e.NC.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	w.sub = sub
	return w, nil
}

// expect returns the events of key from now on, until forget.
func (w *watcher) expect(key string) <-chan received {
	ch := make(chan received, 64)
	w.mu.Lock()
	w.subs[key] = ch
	w.mu.Unlock()
	return ch
}

func (w *watcher) forget(key string) {
	w.mu.Lock()
	delete(w.subs, key)
	w.mu.Unlock()
}

func (w *watcher) stop() { _ = w.sub.Unsubscribe() }

// Report is a benchmark's result.
type Report struct {
	Name string
	// Decide is from the stimulus to the decision event; Outcome to the
	// event that ends the intent.
	Decide, Outcome benchkit.Latencies
	Elapsed         time.Duration
	// Problems counts events that ended something without a change, by
	// type and reason.
	Problems map[string]int
	// Figures are further name → value results (intents/s, CPU %).
	Figures []Figure
}

// Figure is one named result.
type Figure struct {
	Name  string
	Value float64
	Unit  string
}

func (r *Report) problem(e scaler.Event) {
	if r.Problems == nil {
		r.Problems = map[string]int{}
	}
	reason := e.Reason
	if i := strings.IndexAny(reason, ";("); i > 0 {
		reason = strings.TrimSpace(reason[:i])
	}
	r.Problems[string(e.Type)+": "+reason]++
}

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "%s (%s, load %.2f)\n", r.Name, r.Elapsed.Round(time.Millisecond), benchkit.Load())
	if r.Decide.Len() > 0 {
		fmt.Fprintf(w, "  to decision: %s\n", r.Decide.Summary())
	}
	if r.Outcome.Len() > 0 {
		fmt.Fprintf(w, "  to outcome:  %s\n", r.Outcome.Summary())
	}
	for _, f := range r.Figures {
		fmt.Fprintf(w, "  %s: %.4g %s\n", f.Name, f.Value, f.Unit)
	}
	for p, n := range r.Problems {
		fmt.Fprintf(w, "  %d × %s\n", n, p)
	}
}
