package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/scaler"
)

// next is the value a bench intent asks of a target at current: one step
// up (the next whole unit, or the next rung of a ladder), or in dry run the
// policy's max, which is never applied.
func next(p *policy.Policy, current float64, dryRun bool) (float64, string, bool) {
	if len(p.Ladder) > 0 {
		for _, r := range p.Ladder {
			if r.Value > current && (dryRun || r.Value <= p.Max) {
				return r.Value, r.Name, true
			}
		}
		return 0, "", false
	}
	v := current + 1
	if dryRun {
		v = p.Max
	}
	if v > p.Max || v == current {
		return 0, "", false
	}
	return v, "", true
}

// Intents publishes count manual intents for the policy's targets, in
// rounds of one intent per target (so none supersedes another), each round
// published at once, and measures how many the executors finish per
// second and how long each took from its publish to its outcome event.
// Manual intents wait for the provider's guards only: on a simulated
// account with a lock after each change (5 minutes by default), a target
// takes one intent per lock; use lock: 0s for the bench account, or dry
// run.
func Intents(ctx context.Context, e *Env, count int) (*Report, error) {
	p := e.Target.Policy
	w, err := e.watch()
	if err != nil {
		return nil, err
	}
	defer w.stop()
	r := &Report{Name: fmt.Sprintf("intents: %d manual intents for policy %q", count, p.Name)}
	start := time.Now()
	for r.Outcome.Len() < count {
		targets, states, err := e.targets(ctx, !e.Target.DryRun)
		if err != nil {
			return r, err
		}
		if len(targets) > count-r.Outcome.Len() {
			targets = targets[:count-r.Outcome.Len()]
		}
		done, err := e.round(ctx, w, r, targets, states)
		if err != nil {
			return r, err
		}
		if done == 0 {
			return r, fmt.Errorf("a round of %d intents changed nothing; see the problems below", len(targets))
		}
		e.progress("%d/%d", r.Outcome.Len(), count)
	}
	r.Elapsed = time.Since(start)
	r.Figures = append(r.Figures, Figure{"throughput", float64(r.Outcome.Len()) / r.Elapsed.Seconds(), "intents/s"})
	return r, nil
}

// round publishes one intent per target at once and waits for every
// outcome.
func (e *Env) round(ctx context.Context, w *watcher, r *Report, targets []providers.Target, states map[string]*scaler.TargetState) (int, error) {
	p := e.Target.Policy
	type pending struct {
		id     string
		sent   time.Time
		events <-chan received
	}
	var waiting []pending
	var futures []jetstream.PubAckFuture
	defer func() {
		for _, t := range targets {
			w.forget(t.Key())
		}
	}()
	now := time.Now()
	for _, t := range targets {
		v, name, ok := next(p, states[t.Key()].Value, e.Target.DryRun)
		if !ok {
			continue
		}
		in := &scaler.Intent{ID: scaler.IntentID(t, scaler.KindManual, v, name, now), Target: t, Value: v, Name: name,
			Kind: scaler.KindManual, Policy: p.Name, Reason: "specscale bench intents", CreatedAt: now,
			NotAfter: now.Add(e.Timeout), Replica: "specscale-bench"}
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		events := w.expect(t.Key())
		f, err := e.JS.PublishAsync(in.Subject(), b, jetstream.WithMsgID(in.ID))
		if err != nil {
			return 0, fmt.Errorf("publish intent for %s: %w", t, err)
		}
		futures = append(futures, f)
		waiting = append(waiting, pending{in.ID, time.Now(), events})
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, fmt.Errorf("publish intent: %w", err)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	done := 0
	for _, pw := range waiting {
		err := wait(ctx, pw.events, e.Timeout, "intent "+pw.id, func(ev received) bool {
			if ev.e.IntentID != pw.id {
				return false
			}
			switch {
			case outcomes[ev.e.Type]:
				r.Outcome.Add(ev.at.Sub(pw.sent))
				done++
				return true
			case problems[ev.e.Type]:
				r.problem(ev.e)
				return ev.e.Type != scaler.EventDeferred
			}
			return false
		})
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
