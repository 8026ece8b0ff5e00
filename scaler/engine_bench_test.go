package scaler

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	promcfg "github.com/prometheus/common/config"
	"go.uber.org/zap"

	"github.com/specscale/specscale/internal/benchkit"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler/source"
)

// One evaluation tick at scale: one Prometheus instant query answers a
// vector with a series per target, the engine fans it out by label and
// evaluates every target against its cached state. The benchmark serves
// the vector from an HTTP server speaking Prometheus' query API, so a tick
// includes the HTTP round trip and the JSON decoding of the whole vector,
// and the daemon's metrics are on.
//
//	go test ./scaler -run '^$' -bench EvaluationTick -benchtime 20x -count 3
//
// Reported: ns/op and B/op per tick; cpu-ms/tick; heap-MB, the live heap
// the engine, its state cache and its gauges hold for the fleet after a GC.
func BenchmarkEvaluationTick(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) { benchTick(b, n) })
	}
}

// vectorJSON is a Prometheus query API answer: an instant vector of n
// series, instance="i-%07d", values in the dead band of benchPolicy at a
// current value of 100.
func vectorJSON(n int, at time.Time) []byte {
	ts := strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)
	buf := make([]byte, 0, n*90)
	buf = append(buf, `{"status":"success","data":{"resultType":"vector","result":[`...)
	for i := range n {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, `{"metric":{"__name__":"tx_mbps","instance":"%s","job":"edge"},"value":[%s,"%d"]}`,
			benchInstance(i), ts, 50+i%20)
	}
	return append(buf, `]}}`...)
}

func benchInstance(i int) string { return fmt.Sprintf("i-%07d", i) }

func benchPolicy(n int) *policy.Policy {
	inst := make([]string, n)
	for i := range inst {
		inst[i] = benchInstance(i)
	}
	return &policy.Policy{
		Name:     "fleet",
		Targets:  policy.Targets{Provider: "sim", Resource: string(providers.BandwidthOut), Instances: inst},
		Metric:   policy.Metric{Source: "prom", Query: "max by (instance) (tx_mbps)", Label: "instance"},
		Interval: 15 * time.Second,
		Min:      10, Max: 1000,
		Up:      policy.Up{Threshold: 0.8, For: time.Minute, Step: policy.Step{Kind: policy.StepPercent, Amount: 50}, Cooldown: 5 * time.Minute},
		Down:    policy.Down{Threshold: 0.4, For: 5 * time.Minute, Stabilization: 10 * time.Minute, Cooldown: 10 * time.Minute, Target: 0.6},
		Missing: policy.Missing{Action: "hold"},
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// tickFixture is an engine with one policy of n targets polling srv.
type tickFixture struct {
	e   *Engine
	r   *runner
	now time.Time
}

func newTickFixture(tb testing.TB, n int, srvURL string, now time.Time) *tickFixture {
	prom, err := source.NewPrometheus("prom", srvURL, promcfg.HTTPClientConfig{}, 30*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	p := benchPolicy(n)
	cloud, err := simcloud.New(simcloud.DefaultRules())
	if err != nil {
		tb.Fatal(err)
	}
	caps := (&simcloud.Local{Cloud: cloud}).Capabilities()
	rt := &Runtime{
		Accounts: map[string]*Account{"sim": {Name: "sim", Caps: caps}},
		Policies: map[string]*policy.Policy{p.Name: p},
		Owner:    map[string]*policy.Policy{},
	}
	cache := NewStateCache()
	f := &tickFixture{now: now}
	f.e = &Engine{Cache: cache, Metrics: NewMetrics(prometheus.NewRegistry()), Log: zap.NewNop(),
		Now: func() time.Time { return f.now }}
	f.r = &runner{p: p, rt: rt, poller: prom, index: make(map[string]int, n)}
	f.e.runners = map[string]*runner{p.Name: f.r}
	f.e.Metrics.attach(f.e)
	for i, t := range Targets(p) {
		key := t.Key()
		rt.Owner[key] = p
		cache.Set(&TargetState{Target: t, Policy: p.Name, Value: 100, Known: true, Status: "Running", ReadAt: now}, 1)
		tr := &targetRun{t: t, key: key, last: &lastObservation{}}
		f.r.targets = append(f.r.targets, tr)
		f.r.index[t.Instance] = i
	}
	return f
}

func benchTick(b *testing.B, n int) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	body := vectorJSON(n, now)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	heap0 := heapInUse()
	f := newTickFixture(b, n, srv.URL, now)
	ctx := context.Background()
	f.e.tick(ctx, f.r) // warm: connections, maps, first memory
	heap := heapInUse() - heap0

	cpu0 := benchkit.SelfCPU()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.now = f.now.Add(f.r.p.Interval)
		f.e.tick(ctx, f.r)
	}
	b.StopTimer()
	b.ReportMetric(float64(benchkit.SelfCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/tick")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
	b.ReportMetric(benchkit.Load(), "load1")
	if got := counterOf(f.e.Metrics.EvaluationsTotal); got < float64(n) {
		b.Fatalf("%v evaluations, want at least %d", got, n)
	}
	runtime.KeepAlive(f)
}

func counterOf(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
