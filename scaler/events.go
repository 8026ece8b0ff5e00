package scaler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// EventType names what happened.
type EventType string

// Event types. Every decision that changes something, and every end of an
// intent, has one.
const (
	EventDecision       EventType = "decision"         // the evaluator decided to change a target
	EventBlocked        EventType = "blocked"          // the evaluator wanted a change a guard stopped
	EventMissingData    EventType = "missing_data"     // a target's metric had no usable sample
	EventPublished      EventType = "intent_published" // an intent reached the bus
	EventApplied        EventType = "applied"          // the provider accepted the change
	EventWouldApply     EventType = "would_apply"      // dry run: everything but the write call
	EventScheduled      EventType = "scheduled"        // accepted for later (async, next cycle)
	EventDroppedStale   EventType = "dropped_stale"    // past not-after
	EventDroppedNoop    EventType = "dropped_noop"     // the target already has the value
	EventSuperseded     EventType = "superseded"       // a newer intent for the target exists
	EventRefused        EventType = "refused"          // a guard refused the intent for good
	EventDeferred       EventType = "deferred"         // a guard or a retryable error delays the intent
	EventFailed         EventType = "failed"           // a provider error ended the intent
	EventDrift          EventType = "drift"            // a change made outside specscale
	EventConfigReloaded EventType = "config_reloaded"
	EventConfigRejected EventType = "config_rejected"
	EventLeaseAcquired  EventType = "lease_acquired" // this replica began evaluating a policy, or leading
	EventLeaseReleased  EventType = "lease_released" // it handed the lease back (shutdown, or to balance the fleet)
	EventLeaseLost      EventType = "lease_lost"     // it could not renew in time, and stopped acting at once
)

// Boost events: one per start, extension, early end, revert at the end of
// its time, and refusal (with why).
const (
	EventBoostStarted    EventType = "boost_started"
	EventBoostExtended   EventType = "boost_extended"
	EventBoostEndedEarly EventType = "boost_ended_early"
	EventBoostReverted   EventType = "boost_reverted"
	EventBoostRefused    EventType = "boost_refused"
)

// Event is one entry of the audit trail on specscale.events.<type>.<target>.
type Event struct {
	Type     EventType  `json:"type"`
	At       time.Time  `json:"at"`
	Target   string     `json:"target,omitempty"`
	Policy   string     `json:"policy,omitempty"`
	IntentID string     `json:"intent_id,omitempty"`
	Kind     Kind       `json:"kind,omitempty"`
	From     *float64   `json:"from,omitempty"`
	To       *float64   `json:"to,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Error    *ErrorInfo `json:"error,omitempty"`
	DryRun   bool       `json:"dry_run,omitempty"`
	Replica  string     `json:"replica,omitempty"`
}

func f64(v float64) *float64 { return &v }

// Subject is where the event is published.
func (e *Event) Subject() string {
	t := e.Target
	if t == "" {
		t = "_"
	}
	return EventPrefix + string(e.Type) + "." + t
}

// Events publishes audit events. Publishing waits for JetStream's ack:
// an executor acknowledges an intent only after its outcome event is stored.
type Events struct {
	JS      jetstream.JetStream
	Log     *zap.Logger
	Replica string
}

// Publish stores an event. The caller decides whether a failure matters;
// the event is logged either way, so the audit survives in the logs.
func (ev *Events) Publish(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Replica == "" {
		e.Replica = ev.Replica
	}
	fields := []zap.Field{zap.String("event", string(e.Type)), zap.String("target", e.Target)}
	if e.Policy != "" {
		fields = append(fields, zap.String("policy", e.Policy))
	}
	if e.IntentID != "" {
		fields = append(fields, zap.String("intent", e.IntentID))
	}
	if e.From != nil {
		fields = append(fields, zap.Float64("from", *e.From))
	}
	if e.To != nil {
		fields = append(fields, zap.Float64("to", *e.To))
	}
	if e.Reason != "" {
		fields = append(fields, zap.String("reason", e.Reason))
	}
	if e.Error != nil {
		fields = append(fields, zap.String("error_class", e.Error.Class), zap.String("error_code", e.Error.Code), zap.String("error", e.Error.Message))
	}
	if e.DryRun {
		fields = append(fields, zap.Bool("dry_run", true))
	}
	ev.Log.Info(eventMessage(e.Type), fields...)
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	// One event per intent and outcome: a republished outcome (after a
	// crash between recording it and publishing it) is dropped by the
	// stream's duplicate window.
	var opts []jetstream.PublishOpt
	if e.IntentID != "" && e.Type != EventDeferred {
		opts = append(opts, jetstream.WithMsgID(string(e.Type)+"-"+e.IntentID))
	}
	if _, err := ev.JS.Publish(ctx, e.Subject(), b, opts...); err != nil {
		return fmt.Errorf("publish %s event for %s: %w", e.Type, e.Target, err)
	}
	return nil
}

func eventMessage(t EventType) string {
	switch t {
	case EventDecision:
		return "decided to scale"
	case EventApplied:
		return "scaled"
	case EventWouldApply:
		return "would scale (dry run)"
	}
	return string(t)
}
