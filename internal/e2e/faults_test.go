package e2e

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// terminal are the events that end an intent.
var terminal = map[scaler.EventType]bool{
	scaler.EventApplied: true, scaler.EventScheduled: true, scaler.EventDroppedNoop: true,
	scaler.EventDroppedStale: true, scaler.EventSuperseded: true, scaler.EventRefused: true,
	scaler.EventFailed: true, scaler.EventWouldApply: true,
}

// endings follows the events stream and records how each intent ended.
type endings struct {
	mu   sync.Mutex
	ends map[string][]scaler.EventType
}

func followEvents(t *testing.T, w *world) *endings {
	t.Helper()
	en := &endings{ends: map[string][]scaler.EventType{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cons, err := w.js.OrderedConsumer(ctx, scaler.EventStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{scaler.EventSubjects}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var e scaler.Event
		if json.Unmarshal(m.Data(), &e) == nil && terminal[e.Type] && e.IntentID != "" {
			en.mu.Lock()
			en.ends[e.IntentID] = append(en.ends[e.IntentID], e.Type)
			en.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return en
}

func (en *endings) of(id string) []scaler.EventType {
	en.mu.Lock()
	defer en.mu.Unlock()
	return append([]scaler.EventType(nil), en.ends[id]...)
}

// The fault test: the cloud fails 30 % of writes with a mix of retryable,
// throttling and in-progress errors and adds latency. Every intent ends
// applied or with a terminal event, each intent costs at most max_attempts
// write calls, and a cloud that throttles everything causes no hot loop.
func TestProviderFaults(t *testing.T) {
	const maxAttempts = 8
	w := newWorld(t, worldOptions{targets: fleetTargets, lock: 100 * time.Millisecond, downgrades: cloudDowngrades})
	ctx := context.Background()
	if err := w.cloudAPI.SetFaults(ctx, simcloud.Faults{FailRate: 0.3, Latency: 20 * time.Millisecond,
		Codes: []string{simcloud.CodeThrottling, simcloud.CodeInternalError, simcloud.CodeLastOrder}}); err != nil {
		t.Fatal(err)
	}
	w.startDaemon()
	en := followEvents(t, w)
	pub := newPublisher(w)

	for round, value := range []float64{50, 120} {
		var ids []string
		for _, tg := range w.targets {
			pub.publish(tg, value, round)
			ids = append(ids, pub.latest[tg.Key()].ID)
		}
		waitFor(t, 3*time.Minute, "every intent of the round to end", func() bool {
			for _, id := range ids {
				if len(en.of(id)) == 0 {
					return false
				}
			}
			return true
		})
		for _, id := range ids {
			if ends := en.of(id); len(ends) != 1 {
				t.Errorf("intent %s ended %d times: %v", id, len(ends), ends)
			}
		}
	}

	stats, err := w.cloudAPI.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	applied, failed := 0, 0
	for _, in := range pub.all {
		if n := stats.WritesByToken[in.ID]; n > maxAttempts {
			t.Errorf("intent %s cost %d write calls, limit %d", in.ID, n, maxAttempts)
		}
		switch en.of(in.ID)[0] {
		case scaler.EventApplied:
			applied++
		case scaler.EventFailed:
			failed++
		default:
			t.Errorf("intent %s ended %v", in.ID, en.of(in.ID))
		}
	}
	injected := 0
	for _, n := range stats.Injected {
		injected += n
	}
	if injected < len(pub.all)/10 {
		t.Fatalf("only %d faults injected for %d intents: the test did not test", injected, len(pub.all))
	}
	t.Logf("%d intents: %d applied, %d failed after %d attempts; %d faults injected %v", len(pub.all), applied, failed, maxAttempts, injected, stats.Injected)

	// A cloud that throttles every call: retry-after (1s) and backoff pace
	// the executors; no hot loop.
	if err := w.cloudAPI.SetFaults(ctx, simcloud.Faults{FailRate: 1, Codes: []string{simcloud.CodeThrottling}}); err != nil {
		t.Fatal(err)
	}
	before := stats.Writes
	for _, tg := range w.targets {
		pub.publish(tg, 77, 3)
	}
	const window = 5 * time.Second
	time.Sleep(window)
	stats, err = w.cloudAPI.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	calls := stats.Writes - before
	if limit := len(w.targets) * (int(window/time.Second) + 2); calls > limit {
		t.Errorf("%d write calls in %s against a cloud that throttles everything, want at most %d (one per retry-after)", calls, window, limit)
	}
	if calls == 0 {
		t.Errorf("no write calls at all while throttled: the executors stalled")
	}
	t.Logf("throttled for %s: %d write calls for %d intents", window, calls, len(w.targets))
}
