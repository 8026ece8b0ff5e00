package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
)

// Durable boost timers: a JetStream message schedule per target
// (`Nats-Schedule: @at <end>`), published on specscale.timers.at.<target>
// and delivered by the server at the boost's end on
// specscale.timers.due.<target>, where a durable consumer ends the boost.
// A newer schedule on the same subject replaces the older one, so an
// extended boost has one timer, at its latest end. The schedule lives in
// the stream's file store: it survives a daemon restart, and a timer that
// fell due while no daemon ran waits in the stream for the next one.
const (
	TimerStream    = "SPECSCALE_TIMERS"
	TimerSubjects  = "specscale.timers.>"
	TimerAtPrefix  = "specscale.timers.at."
	TimerDuePrefix = "specscale.timers.due."
	TimerConsumer  = "boost-timers"
)

// timerMsg is a timer's payload.
type timerMsg struct {
	Target string    `json:"target"`
	Boost  string    `json:"boost"`
	Until  time.Time `json:"until"`
}

// OpenTimers creates or updates the timer stream. Message schedules need
// nats-server 2.12 or later.
func OpenTimers(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	if replicas == 0 {
		replicas = 1
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              TimerStream,
		Description:       "specscale durable timers: the end of each boost",
		Subjects:          []string{TimerSubjects},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		AllowMsgSchedules: true,
		AllowRollup:       true,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s (message schedules need nats-server 2.12 or later): %w", TimerStream, err)
	}
	return s, nil
}

// scheduleEnd (re)sets the target's timer to the boost's end.
func (m *BoostManager) scheduleEnd(ctx context.Context, t providers.Target, b *Boost) error {
	at := ceilSecond(b.Until)
	body, err := json.Marshal(timerMsg{Target: t.Key(), Boost: b.ID, Until: b.Until})
	if err != nil {
		return err
	}
	if _, err := m.Bus.JS.Publish(ctx, TimerAtPrefix+t.Key(), body,
		jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(TimerDuePrefix+t.Key())); err != nil {
		return fmt.Errorf("schedule the end of the boost of %s at %s: %w", t, at.Format(time.RFC3339), err)
	}
	return nil
}

// Run ends boosts when their timers fire, and sweeps the state every
// Sweep for any boost past its end that no timer ended (a schedule lost
// with a crash between the KV write and its publish, a half-finished
// end). It returns when ctx is cancelled and its goroutines have stopped.
func (m *BoostManager) Run(ctx context.Context) error {
	if m.Sweep <= 0 {
		m.Sweep = 15 * time.Second
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.sweepLoop(sctx)
	}()

	workCtx := context.WithoutCancel(ctx)
	consumeLoop(ctx, m.Bus.NC, m.Log, TimerConsumer, 16,
		func(c context.Context) (jetstream.Consumer, error) {
			return m.Bus.JS.CreateOrUpdateConsumer(c, TimerStream, jetstream.ConsumerConfig{
				Durable:       TimerConsumer,
				Description:   "specscale boost timers",
				FilterSubject: TimerDuePrefix + ">",
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       30 * time.Second,
				MaxDeliver:    -1,
			})
		},
		func(msg jetstream.Msg) {
			if ctx.Err() != nil {
				_ = msg.Nak()
				return
			}
			m.onTimer(workCtx, msg)
		})
	return nil
}

func (m *BoostManager) onTimer(ctx context.Context, msg jetstream.Msg) {
	var tm timerMsg
	if err := json.Unmarshal(msg.Data(), &tm); err != nil {
		m.Log.Warn("undecodable boost timer dropped", zap.String("subject", msg.Subject()), zap.Error(err))
		_ = msg.Term()
		return
	}
	t, err := providers.ParseKey(tm.Target)
	if err != nil {
		_ = msg.Term()
		return
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := m.End(cctx, t, tm.Boost, false, "its time is up", SourceTimer); err != nil {
		delay := 2 * time.Second
		if errors.Is(err, errNativePending) {
			delay = 30 * time.Second
		}
		m.Log.Warn("cannot end boost yet; the timer will fire again", zap.String("target", tm.Target), zap.Duration("in", delay), zap.Error(err))
		_ = msg.NakWithDelay(delay)
		return
	}
	_ = msg.Ack()
}

func (m *BoostManager) sweepLoop(ctx context.Context) {
	tick := time.NewTicker(m.Sweep)
	defer tick.Stop()
	for {
		m.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweep ends every boost past its end, or left half-ended.
func (m *BoostManager) sweep(ctx context.Context) {
	if m.Cache == nil || (m.Leads != nil && !m.Leads()) {
		return
	}
	now := m.Now()
	active := 0
	for _, st := range m.Cache.All() {
		b := st.Boost
		if b == nil {
			continue
		}
		if b.Active(now) {
			active++
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := m.End(cctx, st.Target, b.ID, false, "its time is up", SourceTimer)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, errNativePending) {
			m.Log.Warn("sweep: cannot end boost", zap.String("target", st.Target.Key()), zap.Error(err))
		}
	}
	if m.Metrics != nil {
		m.Metrics.Active.Set(float64(active))
	}
}
