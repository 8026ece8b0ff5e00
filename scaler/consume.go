package scaler

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// consumeLoop reads a durable consumer until ctx ends, handing every
// message to dispatch. The iterator can end on its own — a nats-server that
// restarts may answer "consumer deleted" while it recovers — so the loop
// re-opens the consumer and its iterator until ctx ends. When ctx ends it
// drains what the iterator buffered into dispatch (whose owner hands it
// back), or over a dead connection, where nothing drains, stops at once:
// what was delivered comes back after its ack wait.
func consumeLoop(ctx context.Context, nc *nats.Conn, log *zap.Logger, name string, batch int,
	open func(context.Context) (jetstream.Consumer, error), dispatch func(jetstream.Msg)) {
	for ctx.Err() == nil {
		consumeOnce(ctx, nc, log, name, batch, open, dispatch)
		if ctx.Err() == nil {
			log.Warn("consumer stopped; consuming again", zap.String("consumer", name))
			_ = sleepCtx(ctx, time.Second)
		}
	}
}

func consumeOnce(ctx context.Context, nc *nats.Conn, log *zap.Logger, name string, batch int,
	open func(context.Context) (jetstream.Consumer, error), dispatch func(jetstream.Msg)) {
	var cons jetstream.Consumer
	for {
		var err error
		cons, err = open(ctx)
		if err == nil {
			break
		}
		log.Warn("consumer not ready; retrying", zap.String("consumer", name), zap.Error(err))
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(batch))
	if err != nil {
		log.Warn("cannot consume", zap.String("consumer", name), zap.Error(err))
		return
	}
	stopped := make(chan struct{})
	done := make(chan struct{})
	defer func() {
		close(stopped)
		<-done
	}()
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			if nc.IsConnected() {
				it.Drain()
			} else {
				it.Stop()
			}
		case <-stopped:
			it.Stop()
		}
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return
			}
			log.Warn("consumer", zap.String("consumer", name), zap.Error(err))
			continue
		}
		dispatch(msg)
	}
}
