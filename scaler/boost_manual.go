package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/specscale/specscale/internal/strictyaml"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// Manual boosts (`specscale boost`) are requests on this subject; one
// replica of the daemon's queue group answers each. The daemon applies
// the same rules as to an alert's boost: a request cannot do what a boost
// rule could not.
const (
	BoostRequestSubject = "specscale.boosts.request"
	boostQueue          = "specscale-boosts"
)

// ManualBoost is a `specscale boost` request.
type ManualBoost struct {
	Target string `json:"target"`
	// To is max, a value (150) or a factor of the value before the boost
	// (2x).
	To string `json:"to,omitempty"`
	// For is a duration such as 2h or 30m.
	For    string `json:"for,omitempty"`
	Reason string `json:"reason"`
	Cancel bool   `json:"cancel,omitempty"`
}

// ManualBoostReply is the daemon's answer.
type ManualBoostReply struct {
	Result *BoostResult `json:"result,omitempty"`
	Error  string       `json:"error,omitempty"`
}

// parse checks a request and turns it into a boost request.
func (mb *ManualBoost) parse() (providers.Target, BoostRequest, error) {
	t, err := providers.ParseKey(mb.Target)
	if err != nil {
		return t, BoostRequest{}, err
	}
	if mb.Cancel {
		return t, BoostRequest{}, nil
	}
	if mb.Reason == "" {
		return t, BoostRequest{}, errors.New("a reason is required: it goes into the audit trail")
	}
	v, err := policy.ParseBoostValue(mb.To)
	if err != nil {
		return t, BoostRequest{}, fmt.Errorf("to: %w", err)
	}
	d, err := strictyaml.ParseDuration(mb.For)
	if err != nil || d < time.Second {
		return t, BoostRequest{}, fmt.Errorf("for %q: want a duration of at least 1s, such as 2h", mb.For)
	}
	return t, BoostRequest{Target: t, Value: v, For: d, Key: "manual", Source: SourceManual,
		Reason: "manual boost: " + mb.Reason}, nil
}

// HandleManual serves one request.
func (m *BoostManager) HandleManual(ctx context.Context, mb ManualBoost) ManualBoostReply {
	t, req, err := mb.parse()
	if err != nil {
		if m.Metrics != nil {
			m.Metrics.Refusals.WithLabelValues("invalid").Inc()
		}
		return ManualBoostReply{Error: err.Error()}
	}
	var res BoostResult
	if mb.Cancel {
		reason := "cancelled by an operator"
		if mb.Reason != "" {
			reason += ": " + mb.Reason
		}
		res, err = m.Cancel(ctx, t, reason)
	} else {
		res, err = m.Start(ctx, req)
	}
	if err != nil {
		return ManualBoostReply{Error: err.Error()}
	}
	return ManualBoostReply{Result: &res}
}

// SubscribeRequests subscribes to manual boost requests; the subscription
// is in place on the server when it returns. ServeRequests answers them.
func (m *BoostManager) SubscribeRequests() (*nats.Subscription, error) {
	sub, err := m.Bus.NC.QueueSubscribeSync(BoostRequestSubject, boostQueue)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", BoostRequestSubject, err)
	}
	if err := m.Bus.NC.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to %s: %w", BoostRequestSubject, err)
	}
	return sub, nil
}

// ServeRequests answers manual boost requests on sub until ctx ends, then
// unsubscribes.
func (m *BoostManager) ServeRequests(ctx context.Context, sub *nats.Subscription) error {
	defer sub.Unsubscribe()
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
				return err
			}
			continue
		}
		var mb ManualBoost
		var reply ManualBoostReply
		if err := json.Unmarshal(msg.Data, &mb); err != nil {
			reply.Error = "malformed request: " + err.Error()
		} else {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			reply = m.HandleManual(rctx, mb)
			cancel()
		}
		b, _ := json.Marshal(reply)
		if err := msg.Respond(b); err != nil {
			m.Log.Warn("cannot answer a boost request", zap.Error(err))
		}
	}
}
