package scaler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/internal/benchkit"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// Intent throughput: intents published on JetStream (file storage) →
// executor → Apply on the simulated cloud → outcome recorded in KV → event
// stored → intent acknowledged. The executor runs as in the daemon: the
// state cache watches KV, events are logged (JSON, discarded) and
// published, metrics are on. Every intent is for a target of its own, so
// none supersedes another.
//
//	go test ./scaler -run '^$' -bench 'IntentThroughput/latency=0' -benchtime 5000x -count 3
//	go test ./scaler -run '^$' -bench 'IntentThroughput/latency=200ms' -benchtime 10s
//
// Reported: intents/s from the first publish to the last applied event;
// writes/intent, the JetStream writes each intent cost (stream messages
// stored in the intents stream, the KV bucket and the events stream, plus
// the acknowledgement that deletes the intent from the work queue) — each
// one an fsync under sync_interval: always.
func BenchmarkIntentThroughput(b *testing.B) {
	for _, bc := range []struct {
		sync    string
		latency time.Duration
		workers int
		rate    float64
	}{
		{"2m", 0, 4, 1e6},
		{"always", 0, 4, 1e6},
		{"2m", 0, 16, 1e6},
		{"always", 0, 16, 1e6},
	} {
		b.Run(fmt.Sprintf("latency=0/sync=%s/workers=%d", bc.sync, bc.workers), func(b *testing.B) {
			benchThroughput(b, bc.sync, bc.latency, bc.workers, bc.rate)
		})
	}
	// With 200 ms per provider call (a live read and a write per intent),
	// throughput grows with the workers up to the account's write_rate.
	for _, w := range []int{1, 2, 4, 8, 16, 32, 64} {
		b.Run(fmt.Sprintf("latency=200ms/write_rate=50/workers=%d", w), func(b *testing.B) {
			benchThroughput(b, "2m", 200*time.Millisecond, w, 50)
		})
	}
}

func benchThroughput(b *testing.B, syncInterval string, latency time.Duration, workers int, writeRate float64) {
	n := b.N
	dir := b.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The daemon logs every event at info: keep the encoding cost.
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel))

	ns, err := scaler.StartEmbedded(config.Embedded{DataDir: filepath.Join(dir, "data"), SyncInterval: syncInterval,
		MaxMemory: 256 << 20, MaxStore: 10 << 30}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	nc, err := scaler.Connect(config.NATS{}, ns, "bench executor", zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	bus, err := scaler.OpenBus(ctx, nc, scaler.BusOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cache := scaler.NewStateCache()
	cacheDone := make(chan struct{})
	go func() { defer close(cacheDone); _ = cache.Run(ctx, bus.State) }()
	<-cache.Ready()

	cloud := benchCloud(b, n, 100)
	cloud.SetFaults(simcloud.Faults{Latency: latency})
	prov := &simcloud.Local{Cloud: cloud}
	p := &policy.Policy{Name: "bench", Min: 1, Max: 100000,
		Targets: policy.Targets{Provider: "sim", Resource: string(providers.BandwidthOut)}}
	rt := &scaler.Runtime{
		Accounts: map[string]*scaler.Account{"sim": {Name: "sim", Provider: prov, Caps: prov.Capabilities(),
			Limiter: rate.NewLimiter(rate.Limit(writeRate), max(int(writeRate/10), 1)), Timeout: 30 * time.Second}},
		Policies: map[string]*policy.Policy{p.Name: p},
		Owner:    map[string]*policy.Policy{},
		Executor: config.Executor{Workers: workers, MaxAttempts: 8, BackoffInitial: 100 * time.Millisecond, BackoffMax: time.Second,
			IntentTTL: 10 * time.Minute, AckWait: 30 * time.Second},
	}
	targets := make([]providers.Target, n)
	for i := range targets {
		targets[i] = providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: fmt.Sprintf("b-%05d", i)}
		rt.Owner[targets[i].Key()] = p
	}

	appliedPrefix := scaler.EventPrefix + string(scaler.EventApplied) + "."
	var applied, other atomic.Int64
	allDone := make(chan struct{})
	sub, err := nc.Subscribe(scaler.EventPrefix+">", func(m *nats.Msg) {
		if !strings.HasPrefix(m.Subject, appliedPrefix) {
			other.Add(1)
		} else if applied.Add(1) == int64(n) {
			close(allDone)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()

	x := &scaler.Executor{Bus: bus, Store: &scaler.Store{KV: bus.State}, Cache: cache,
		Events: &scaler.Events{JS: bus.JS, Log: log, Replica: "bench"}, Metrics: scaler.NewMetrics(prometheus.NewRegistry()),
		Log: log, Runtime: func() *scaler.Runtime { return rt }, Now: time.Now, Workers: workers, Grace: 5 * time.Second}
	execDone := make(chan struct{})
	go func() { defer close(execDone); _ = x.Run(ctx) }()
	defer func() {
		cancel()
		<-execDone
		<-cacheDone
	}()

	seq0 := streamSeqs(b, bus)
	cpu0 := benchkit.SelfCPU()
	b.ResetTimer()
	start := time.Now()
	// Publish every intent asynchronously, at most 512 awaiting their
	// PubAck (more and the client stalls under sync always); the executor
	// consumes as they land.
	js := bus.JS
	now := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, n)
	acked := 0
	waitAcks := func(upTo int) {
		for ; acked < upTo; acked++ {
			select {
			case <-futures[acked].Ok():
			case err := <-futures[acked].Err():
				b.Fatalf("publish: %v", err)
			}
		}
	}
	for _, t := range targets {
		waitAcks(len(futures) - 512)
		in := &scaler.Intent{ID: scaler.IntentID(t, scaler.KindManual, 150, "", now), Target: t, Value: 150,
			Kind: scaler.KindManual, Policy: p.Name, Reason: "benchmark", CreatedAt: now, NotAfter: now.Add(10 * time.Minute)}
		data, err := json.Marshal(in)
		if err != nil {
			b.Fatal(err)
		}
		f, err := js.PublishAsync(in.Subject(), data, jetstream.WithMsgID(in.ID))
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	waitAcks(len(futures))
	select {
	case <-allDone:
	case <-time.After(time.Duration(n)*time.Second + time.Minute):
		b.Fatalf("%d of %d intents applied (%d other events) before the time limit", applied.Load(), n, other.Load())
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := benchkit.SelfCPU() - cpu0
	seq1 := streamSeqs(b, bus)
	writes := float64(seq1-seq0+uint64(n)) / float64(n)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "intents/s")
	b.ReportMetric(writes, "writes/intent")
	b.ReportMetric(float64(cpu)/float64(n)/1e3, "cpu-µs/intent")
	b.ReportMetric(benchkit.Load(), "load1")
	if o := other.Load(); o != 0 {
		b.Errorf("%d events other than applied", o)
	}
}

// streamSeqs sums the last sequence of the intents stream, the events
// stream and the KV bucket's stream: the messages stored so far.
func streamSeqs(b *testing.B, bus *scaler.Bus) uint64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var total uint64
	kv, err := bus.JS.Stream(ctx, "KV_"+scaler.StateBucket)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []jetstream.Stream{bus.Intents, bus.Events, kv} {
		info, err := s.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		total += info.State.LastSeq
	}
	return total
}
