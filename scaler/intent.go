package scaler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/specscale/specscale/providers"
)

// Kind says where an intent came from.
type Kind string

// Intent kinds.
const (
	KindScaleUp   Kind = "scale_up"
	KindScaleDown Kind = "scale_down"
	KindBoost     Kind = "boost"
	KindRevert    Kind = "revert"
	KindSchedule  Kind = "schedule"
	KindManual    Kind = "manual"
)

// Intent is a desired absolute value for a target — never a delta, so a
// duplicate or a replay is harmless.
type Intent struct {
	// ID is the idempotency key: deterministic for one decision, used as
	// Nats-Msg-Id and passed to the provider as its client token.
	ID     string           `json:"id"`
	Target providers.Target `json:"target"`
	Value  float64          `json:"value"`
	// Name is the provider's name for Value, for name-valued resources.
	Name   string `json:"name,omitempty"`
	Kind   Kind   `json:"kind"`
	Policy string `json:"policy"`
	// Reason is the metric values and thresholds that caused the intent.
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	// NotAfter: past it the intent is dropped with an event, not applied.
	NotAfter time.Time `json:"not_after"`
	// Temporary asks for a native temporary change, reverted by the
	// provider at its end.
	Temporary *providers.Window `json:"temporary,omitempty"`
	// Replica is the daemon replica that decided.
	Replica string `json:"replica,omitempty"`
}

// IntentID derives the idempotency key of a decision: the same target,
// kind, value and decision time give the same key. 32 hex characters fit
// every provider's client-token limit.
func IntentID(t providers.Target, kind Kind, value float64, name string, at time.Time) string {
	h := sha256.New()
	h.Write([]byte(t.Key()))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatFloat(value, 'g', -1, 64)))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(at.UnixNano(), 10)))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Subject is the intent's subject: one per target.
func (in *Intent) Subject() string { return IntentPrefix + in.Target.Key() }

// Validate checks an intent read off the bus.
func (in *Intent) Validate() error {
	switch {
	case in.ID == "" || len(in.ID) > 64:
		return fmt.Errorf("intent id %q: want 1 to 64 characters", in.ID)
	case in.Target.Account == "" || in.Target.Resource == "" || in.Target.Instance == "":
		return fmt.Errorf("intent %s: incomplete target %+v", in.ID, in.Target)
	case in.Kind == "":
		return fmt.Errorf("intent %s: no kind", in.ID)
	case in.NotAfter.IsZero():
		return fmt.Errorf("intent %s: no not_after", in.ID)
	}
	return nil
}

// PublishIntent publishes an intent durably: it returns once JetStream has
// stored it (the PubAck). The intent ID is the Nats-Msg-Id, so a retried
// publish inside the duplicate window stores nothing twice.
func PublishIntent(ctx context.Context, js jetstream.JetStream, in *Intent) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if _, err := js.Publish(ctx, in.Subject(), b, jetstream.WithMsgID(in.ID)); err != nil {
		return fmt.Errorf("publish intent %s for %s: %w", in.ID, in.Target, err)
	}
	return nil
}
