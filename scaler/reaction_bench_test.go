package scaler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/specscale/specscale/internal/benchkit"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// timedCloud is the simulated cloud with a clock on Apply: it records when
// each call for a target arrived.
type timedCloud struct {
	*simcloud.Local
	mu     sync.Mutex
	notify map[string]chan time.Time // target key → the next Apply's arrival
}

func (c *timedCloud) expect(key string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.notify[key] = ch
	c.mu.Unlock()
	return ch
}

func (c *timedCloud) Apply(ctx context.Context, ch providers.Change) (providers.Result, error) {
	at := time.Now()
	c.mu.Lock()
	n := c.notify[ch.Target.Key()]
	delete(c.notify, ch.Target.Key())
	c.mu.Unlock()
	if n != nil {
		n <- at
	}
	return c.Local.Apply(ctx, ch)
}

// benchCloud is an in-process simulated cloud with no lock, no downgrade
// quota and the whole 0–100000 range, so that every target can change as
// often as the benchmark asks.
func benchCloud(b *testing.B, n int, value float64) *simcloud.Cloud {
	b.Helper()
	c, err := simcloud.New(simcloud.Rules{TokenMemory: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := c.Put(simcloud.Instance{ID: fmt.Sprintf("b-%05d", i), Values: map[providers.Resource]float64{providers.BandwidthOut: value}}); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// startReactionDaemon runs the daemon configured in dir on a simulated
// cloud of n targets until the benchmark ends, and returns the cloud, the
// daemon, a connection to its NATS server and the targets of its applied
// events, as they arrive.
func startReactionDaemon(b *testing.B, dir string, n int) (*timedCloud, *scaler.Daemon, *nats.Conn, <-chan string) {
	b.Helper()
	cloud := &timedCloud{Local: &simcloud.Local{Cloud: benchCloud(b, n, 100)}, notify: map[string]chan time.Time{}}
	d, err := scaler.New(scaler.Options{ConfigPath: filepath.Join(dir, "specscale.yaml"), Log: zap.NewNop(),
		Providers: map[string]providers.Provider{"sim": cloud}, Replica: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	select {
	case <-d.Ready():
	case err := <-done:
		b.Fatalf("daemon stopped: %v", err)
	}
	nc, err := nats.Connect(d.NATSURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	applied := make(chan string, 16)
	if _, err := nc.Subscribe(scaler.EventPrefix+string(scaler.EventApplied)+".>", func(m *nats.Msg) {
		var e scaler.Event
		if json.Unmarshal(m.Data, &e) == nil {
			applied <- e.Target
		}
	}); err != nil {
		b.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	return cloud, d, nc, applied
}

func benchInstances(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("b-%05d", i)
	}
	return strings.Join(ids, ", ")
}

// Reaction latency on the NATS path: a sample published on
// specscale.metrics.<target> → the simulated cloud's Apply called, through
// a whole in-process daemon (embedded nats-server with file storage,
// evaluation on arrival, for: 0, intent published durably, executor's KV
// read, live read and write-ahead). One change at a time, round-robin over
// 32 targets; the next sample waits until the last change is recorded.
//
//	go test ./scaler -run '^$' -bench ReactionNATS -benchtime 1000x -count 3
//
// Reported: p50-ms, p99-ms, max-ms of sample → Apply; rec-p50-ms and
// rec-p99-ms of sample → the applied event (the outcome in KV, the event
// stored, the intent acknowledged).
func BenchmarkReactionNATS(b *testing.B) {
	for _, sync := range []string{"always", "2m"} {
		b.Run("sync="+sync, func(b *testing.B) { benchReaction(b, sync) })
	}
}

func benchReaction(b *testing.B, syncInterval string) {
	const targets = 32
	dir := b.TempDir()
	cfg := fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
nats:
  embedded: {data_dir: %q, listen: "127.0.0.1:0", sync_interval: %q}
sources:
  - {name: pushed, type: nats}
providers:
  - {name: sim, type: simulated, write_rate: 100000, write_burst: 1000}
policies: [policies.yaml]
`, filepath.Join(dir, "data"), syncInterval)
	pol := fmt.Sprintf(`
policies:
  - name: react
    targets: {provider: sim, resource: bandwidth_out, instances: [%s]}
    metric: {source: pushed}
    evaluation_interval: 1h
    min: 1
    max: 100000
    up:   {threshold: 0.8, for: 0s, step: 10, cooldown: 0s}
    down: {threshold: 0.1, for: 1h}
`, benchInstances(targets))
	for name, content := range map[string]string{"specscale.yaml": cfg, "policies.yaml": pol} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cloud, _, nc, applied := startReactionDaemon(b, dir, targets)

	value := make([]float64, targets)
	for i := range value {
		value[i] = 100
	}
	var toApply, toRecord benchkit.Latencies
	i := 0
	cpu0 := benchkit.SelfCPU()
	for b.Loop() {
		k := i % targets
		i++
		key := fmt.Sprintf("sim/bandwidth_out/b-%05d", k)
		arrived := cloud.expect(key)
		// Utilisation 1.0, above 0.8: a step up by 10.
		sample := strconv.FormatFloat(value[k], 'f', -1, 64)
		sent := time.Now()
		if err := nc.Publish(scaler.MetricPrefix+key, []byte(sample)); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-arrived:
			toApply.Add(at.Sub(sent))
		case <-time.After(30 * time.Second):
			b.Fatalf("no Apply for %s within 30s", key)
		}
		for got := ""; got != key; {
			select {
			case got = <-applied:
			case <-time.After(30 * time.Second):
				b.Fatalf("no applied event for %s within 30s", key)
			}
		}
		toRecord.Add(time.Since(sent))
		value[k] += 10
	}
	b.StopTimer()
	b.ReportMetric(benchkit.Ms(toApply.Percentile(50)), "p50-ms")
	b.ReportMetric(benchkit.Ms(toApply.Percentile(99)), "p99-ms")
	b.ReportMetric(benchkit.Ms(toApply.Max()), "max-ms")
	b.ReportMetric(benchkit.Ms(toRecord.Percentile(50)), "rec-p50-ms")
	b.ReportMetric(benchkit.Ms(toRecord.Percentile(99)), "rec-p99-ms")
	b.ReportMetric(float64(benchkit.SelfCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(benchkit.Load(), "load1")
}

// Reaction latency on the Alertmanager path: a webhook notification (one
// firing alert, as Alertmanager posts it) → the simulated cloud's Apply,
// through a whole in-process daemon with the same settings as
// BenchmarkReactionNATS. The policy's boost rule raises the alert's
// instance to the policy's max; each iteration alerts for a target of its
// own (a boost already up would only be extended), and the next waits for
// the change to be recorded.
//
//	go test ./scaler -run '^$' -bench ReactionWebhook -benchtime 300x -count 3
//
// Reported: p50-ms, p99-ms, max-ms of POST → Apply; resp-p50-ms and
// resp-p99-ms of the webhook's own answer; rec-p50-ms, rec-p99-ms of POST
// → the applied event.
func BenchmarkReactionWebhook(b *testing.B) {
	for _, sync := range []string{"always", "2m"} {
		b.Run("sync="+sync, func(b *testing.B) { benchWebhook(b, sync) })
	}
}

func benchWebhook(b *testing.B, syncInterval string) {
	n := b.N
	dir := b.TempDir()
	const token = "bench-token"
	cfg := fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
nats:
  embedded: {data_dir: %q, listen: "127.0.0.1:0", sync_interval: %q}
hooks:
  alertmanager:
    token: {file: %q}
sources:
  - {name: pushed, type: nats}
providers:
  - {name: sim, type: simulated, write_rate: 100000, write_burst: 1000}
policies: [policies.yaml]
`, filepath.Join(dir, "data"), syncInterval, filepath.Join(dir, "token"))
	pol := fmt.Sprintf(`
policies:
  - name: react
    targets: {provider: sim, resource: bandwidth_out, instances: [%s]}
    metric: {source: pushed}
    evaluation_interval: 1h
    min: 1
    max: 1000
    up:   {threshold: 0.8, for: 0s, step: 10, cooldown: 0s}
    down: {threshold: 0.1, for: 1h}
    boosts:
      - name: bench
        matchers: ['alertname="BenchBoost"']
        targets: {label: instance}
        to: max
        for: 1h
`, benchInstances(n))
	for name, content := range map[string]string{"specscale.yaml": cfg, "policies.yaml": pol, "token": token + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cloud, d, _, applied := startReactionDaemon(b, dir, n)
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	url := "http://" + d.HTTPAddr() + scaler.AlertmanagerPath

	var toApply, toAnswer, toRecord benchkit.Latencies
	cpu0 := benchkit.SelfCPU()
	// A classic loop: the targets are made for b.N before the timer starts.
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inst := fmt.Sprintf("b-%05d", i)
		key := "sim/bandwidth_out/" + inst
		started := time.Now().Add(-time.Second).UTC()
		body, _ := json.Marshal(scaler.Notification{Version: "4", GroupKey: "{}:{alertname=\"BenchBoost\"}", Status: scaler.StatusFiring,
			Receiver: "specscale", GroupLabels: map[string]string{"alertname": "BenchBoost"},
			Alerts: []scaler.Alert{{Status: scaler.StatusFiring, Labels: map[string]string{"alertname": "BenchBoost", "instance": inst},
				StartsAt: started, Fingerprint: fmt.Sprintf("%016x", i+1)}}})
		arrived := cloud.expect(key)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		sent := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("webhook answered %s", resp.Status)
		}
		toAnswer.Add(time.Since(sent))
		select {
		case at := <-arrived:
			toApply.Add(at.Sub(sent))
		case <-time.After(30 * time.Second):
			b.Fatalf("no Apply for %s within 30s", key)
		}
		for got := ""; got != key; {
			select {
			case got = <-applied:
			case <-time.After(30 * time.Second):
				b.Fatalf("no applied event for %s within 30s", key)
			}
		}
		toRecord.Add(time.Since(sent))
	}
	b.StopTimer()
	b.ReportMetric(benchkit.Ms(toApply.Percentile(50)), "p50-ms")
	b.ReportMetric(benchkit.Ms(toApply.Percentile(99)), "p99-ms")
	b.ReportMetric(benchkit.Ms(toApply.Max()), "max-ms")
	b.ReportMetric(benchkit.Ms(toAnswer.Percentile(50)), "resp-p50-ms")
	b.ReportMetric(benchkit.Ms(toAnswer.Percentile(99)), "resp-p99-ms")
	b.ReportMetric(benchkit.Ms(toRecord.Percentile(50)), "rec-p50-ms")
	b.ReportMetric(benchkit.Ms(toRecord.Percentile(99)), "rec-p99-ms")
	b.ReportMetric(float64(benchkit.SelfCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(benchkit.Load(), "load1")
}
