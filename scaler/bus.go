// Package scaler is specscale's engine: metric sources, the evaluation loop,
// the intent bus on JetStream, the executors and their guards, the state
// store, and the HTTP side (metrics, health, reload). It knows no provider
// wire format: it talks to providers only through providers.Provider.
package scaler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/internal/strictyaml"
)

// Names on the bus.
const (
	IntentStream   = "SPECSCALE_INTENTS"
	IntentSubjects = "specscale.intents.>"
	IntentPrefix   = "specscale.intents."
	EventStream    = "SPECSCALE_EVENTS"
	EventSubjects  = "specscale.events.>"
	EventPrefix    = "specscale.events."
	MetricPrefix   = "specscale.metrics."
	StateBucket    = "specscale_state"
	ExecutorName   = "executors"
)

// Bus is the daemon's NATS connection with its streams and KV bucket.
type Bus struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	Intents jetstream.Stream
	Events  jetstream.Stream
	State   jetstream.KeyValue
	// Embedded is the in-process server, if the daemon started one.
	Embedded *server.Server
}

// StartEmbedded starts an in-process nats-server with JetStream on
// e.DataDir. It installs no signal handler (NoSigs): the daemon owns
// signals.
func StartEmbedded(e config.Embedded, log *zap.Logger) (*server.Server, error) {
	if err := os.MkdirAll(e.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	opts := &server.Options{
		ServerName:         "specscale-embedded",
		JetStream:          true,
		StoreDir:           e.DataDir,
		NoSigs:             true,
		NoLog:              true,
		JetStreamMaxMemory: e.MaxMemory,
		JetStreamMaxStore:  e.MaxStore,
		DontListen:         e.Listen == "",
	}
	if e.SyncInterval == "always" {
		opts.SyncAlways = true
	} else {
		d, err := strictyaml.ParseDuration(e.SyncInterval)
		if err != nil {
			return nil, err
		}
		opts.SyncInterval = d
	}
	if e.Listen != "" {
		host, port, err := net.SplitHostPort(e.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats.embedded.listen %q: %w", e.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats.embedded.listen %q: bad port", e.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats-server did not become ready in 30s")
	}
	log.Info("embedded nats-server started", zap.String("data_dir", e.DataDir),
		zap.String("sync", e.SyncInterval), zap.Bool("listening", e.Listen != ""), zap.String("url", clientURL(ns, e)))
	return ns, nil
}

func clientURL(ns *server.Server, e config.Embedded) string {
	if e.Listen == "" {
		return ""
	}
	return ns.ClientURL()
}

// Connect connects to NATS as the config says: in-process to ns when it is
// set, else to the external URL. The connection reconnects forever. extra
// options come last.
func Connect(c config.NATS, ns *server.Server, name string, log *zap.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		// No buffering while disconnected: a publish then fails at once
		// instead of landing after the reconnect — when this replica may
		// no longer hold the lease it decided under. Every publisher
		// handles the error (decide again, or redelivery).
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted())) }),
	}
	url := c.URL
	if ns != nil {
		opts = append(opts, nats.InProcessServer(ns))
		url = ""
	}
	if c.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredentialsFile))
	}
	if c.Token != nil {
		tok, err := c.Token.Resolve()
		if err != nil {
			return nil, fmt.Errorf("nats.token: %w", err)
		}
		opts = append(opts, nats.Token(tok))
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	return nc, nil
}

// BusOptions size the streams.
type BusOptions struct {
	Replicas int
	// EventMaxAge and EventMaxBytes bound the audit stream.
	EventMaxAge   time.Duration
	EventMaxBytes int64
}

// OpenBus creates or updates the streams and the KV bucket, idempotently.
//
// Intents: a work-queue stream, one subject per target, keeping only the
// newest message per subject (MaxMsgsPerSubject 1, DiscardOld): a newer
// desired value replaces an older one still waiting. File storage; the
// duplicate window makes a re-published intent (same Nats-Msg-Id) harmless.
func OpenBus(ctx context.Context, nc *nats.Conn, o BusOptions) (*Bus, error) {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.EventMaxAge == 0 {
		o.EventMaxAge = 7 * 24 * time.Hour
	}
	if o.EventMaxBytes == 0 {
		o.EventMaxBytes = 1 << 30
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	b := &Bus{NC: nc, JS: js}
	b.Intents, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              IntentStream,
		Description:       "specscale resize intents: the latest desired value per target",
		Subjects:          []string{IntentSubjects},
		Retention:         jetstream.WorkQueuePolicy,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          o.Replicas,
		Duplicates:        2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", IntentStream, err)
	}
	b.Events, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        EventStream,
		Description: "specscale audit trail: every decision and outcome",
		Subjects:    []string{EventSubjects},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.EventMaxAge,
		MaxBytes:    o.EventMaxBytes,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", EventStream, err)
	}
	b.State, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "specscale per-target state",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create kv %s: %w", StateBucket, err)
	}
	return b, nil
}

// ExecutorConsumer creates or updates the executors' durable consumer.
// Redelivery is unbounded here because the executor counts provider calls
// itself, in KV, and ends an intent with a terminal event at its own limit;
// waiting on a guard (a lock, a cooldown) costs no attempt.
func (b *Bus) ExecutorConsumer(ctx context.Context, ackWait time.Duration) (jetstream.Consumer, error) {
	c, err := b.Intents.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       ExecutorName,
		Description:   "specscale executors",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 10000,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", ExecutorName, err)
	}
	return c, nil
}
