package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/specscale/specscale/scaler"
)

// above is a metric value whose utilisation on current is past the
// policy's scale-up threshold.
func above(current, threshold float64) float64 {
	if current <= 0 {
		return 1
	}
	return current * (threshold + 0.1)
}

// Latency pushes count samples, one at a time, on specscale.metrics.<target>
// for the policy's targets in turn — each past the scale-up threshold of
// the target's present value — and times each until the daemon's decision
// event and until the intent's outcome event (applied, or would_apply in
// dry run). The policy's source must be of type nats.
func Latency(ctx context.Context, e *Env, count int) (*Report, error) {
	targets, states, err := e.targets(ctx, true)
	if err != nil {
		return nil, err
	}
	w, err := e.watch()
	if err != nil {
		return nil, err
	}
	defer w.stop()
	p := e.Target.Policy
	r := &Report{Name: fmt.Sprintf("latency: %d samples pushed on NATS for policy %q (%d targets)", count, p.Name, len(targets))}
	start := time.Now()
	for i := 0; r.Outcome.Len() < count; i++ {
		if i >= 2*count+len(targets) {
			return r, fmt.Errorf("%d of %d samples became changes; see the problems below", r.Outcome.Len(), count)
		}
		t := targets[i%len(targets)]
		key := t.Key()
		st := states[key]
		if !e.Target.DryRun {
			// The last change moved it: read it again.
			if st, _, err = e.Store.Get(ctx, t); err != nil {
				return r, err
			}
			if st.Value >= p.Max {
				continue
			}
		}
		events := w.expect(key)
		sample := strconv.FormatFloat(above(st.Value, p.Up.Threshold), 'f', -1, 64)
		sent := time.Now()
		if err := e.NC.Publish(scaler.MetricPrefix+key, []byte(sample)); err != nil {
			return r, err
		}
		err := r.reaction(ctx, events, e.Timeout, key, sent)
		w.forget(key)
		if err != nil {
			return r, err
		}
		if n := r.Outcome.Len(); n%50 == 0 && n > 0 {
			e.progress("%d/%d", n, count)
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// reaction records the times from since to the target's decision event
// and to its outcome event, waiting for both: the decision event is
// published after the intent, so the executor's outcome may arrive first.
// A problem event is recorded and ends the wait, unless it only defers.
func (r *Report) reaction(ctx context.Context, events <-chan received, limit time.Duration, key string, since time.Time) error {
	var decided, ended bool
	return wait(ctx, events, limit, key, func(ev received) bool {
		switch {
		case ev.e.Type == scaler.EventDecision:
			r.Decide.Add(ev.at.Sub(since))
			decided = true
		case outcomes[ev.e.Type]:
			r.Outcome.Add(ev.at.Sub(since))
			ended = true
		case problems[ev.e.Type]:
			r.problem(ev.e)
			return ev.e.Type != scaler.EventDeferred
		}
		return decided && ended
	})
}

// wait feeds events to fn until it returns true, the limit passes or ctx
// ends.
func wait(ctx context.Context, events <-chan received, limit time.Duration, what string, fn func(received) bool) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case ev := <-events:
			if fn(ev) {
				return nil
			}
		case <-timer.C:
			return fmt.Errorf("no outcome for %s within %s: is the daemon running this policy?", what, limit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
