package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/specscale/specscale/internal/benchkit"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// The Prometheus path at 1,000 targets, every part a real process: an
// exporter (in this process) serves one gauge per target; Debian's
// prometheus scrapes it every second; a specscale daemon evaluates one
// policy over the 1,000 targets every second, with one instant query for
// all of them; the simulated cloud (in this process, over HTTP) applies.
//
// First the steady state: for 30 s nothing changes, and the benchmark
// reads the CPU time of the daemon and of Prometheus from /proc, the
// daemon's resident memory, and the queries Prometheus answered. Then
// each iteration raises one target's gauge above the scale-up threshold at
// a random moment and times the change until the cloud's ledger has the
// Apply (the ledger entry's own timestamp).
//
//	go test ./internal/e2e -run '^$' -bench PrometheusPath -benchtime 60x -timeout 30m
//
// Reported: p50-ms, p90-ms and max-ms from the change to the Apply, split
// into to-decision (the waits for a scrape and an evaluation, and the
// query) and decision-to-apply (the intent through JetStream and the
// executor); specscale-cpu-% and prometheus-cpu-% of one core, rss-MB of
// the daemon and queries/s in the steady state.
//
// It fails when prometheus is not installed (scripts/test installs it).
//
// Sub-benchmarks: align=scrape sets the policy's metric.scrape_job, so its
// evaluations follow Prometheus' scrapes; align=none evaluates at whatever
// offset from the scrapes the daemon started at.
func BenchmarkPrometheusPath(b *testing.B) {
	b.Run("align=scrape", func(b *testing.B) { benchPrometheusPath(b, "1s", true) })
	b.Run("align=none", func(b *testing.B) { benchPrometheusPath(b, "1s", false) })
}

func benchPrometheusPath(b *testing.B, interval string, align bool) {
	const n = 1000
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		b.Fatalf("prometheus is not installed (scripts/test installs the Debian package): %v", err)
	}
	specscaleBin, _ := binaries(b)
	dir := b.TempDir()

	// The exporter: bench_tx_mbps{host="p-0000"} for every target (not
	// instance: Prometheus sets that label to the scraped address).
	values := make([]atomic.Int64, n)
	for i := range values {
		values[i].Store(50) // utilisation 0.5 on 100: the dead band
	}
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		buf.WriteString("# TYPE bench_tx_mbps gauge\n")
		for i := range values {
			fmt.Fprintf(&buf, "bench_tx_mbps{host=\"p-%04d\"} %d\n", i, values[i].Load())
		}
		_, _ = w.Write(buf.Bytes())
	}))
	defer exporter.Close()

	cloud, err := simcloud.New(simcloud.Rules{TokenMemory: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%04d", i)
		if err := cloud.Put(simcloud.Instance{ID: ids[i], Values: map[providers.Resource]float64{providers.BandwidthOut: 100}}); err != nil {
			b.Fatal(err)
		}
	}
	cloudSrv := httptest.NewServer(simcloud.NewServer(cloud))
	defer cloudSrv.Close()

	// Prometheus, scraping every second.
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	promCfg := fmt.Sprintf(`
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: edge
    static_configs: [{targets: [%q]}]
`, exporter.Listener.Addr().String())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o644); err != nil {
		b.Fatal(err)
	}
	prom := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr, "--log.level=warn")
	prom.Stdout, prom.Stderr = io.Discard, os.Stderr
	if err := prom.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = prom.Process.Kill()
		_ = prom.Wait()
	}()
	// Count the daemon's queries on their way to Prometheus.
	var queries atomic.Int64
	promURL, _ := url.Parse("http://" + promAddr)
	rp := httputil.NewSingleHostReverseProxy(promURL)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/query" {
			queries.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	waitFor(b, 60*time.Second, "prometheus to have scraped the exporter", func() bool {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=count(bench_tx_mbps)")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), fmt.Sprintf(`"%d"`, n))
	})

	// The daemon.
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	cfg := fmt.Sprintf(`
http: {listen: %q}
log: {level: warn, format: json}
nats: {embedded: {data_dir: %q, listen: %q}}
sources:
  - {name: prom, type: prometheus, url: %q, timeout: 5s}
providers:
  - {name: sim, type: simulated, write_rate: 100, write_burst: 10, timeout: 5s, options: {url: %q}}
policies: [policies.yaml]
`, httpAddr, filepath.Join(dir, "data"), natsAddr, proxy.URL, cloudSrv.URL)
	scrapeJob := ""
	if align {
		scrapeJob = ", scrape_job: edge"
	}
	pol := fmt.Sprintf(`
policies:
  - name: edge
    targets: {provider: sim, resource: bandwidth_out, instances: [%s]}
    metric: {source: prom, query: 'max by (host) (bench_tx_mbps)', label: host%s}
    evaluation_interval: %s
    min: 10
    max: 1000
    up:   {threshold: 0.8, for: 0s, step: 10, cooldown: 0s}
    down: {threshold: 0.4, for: 1h}
`, strings.Join(ids, ", "), scrapeJob, interval)
	for name, content := range map[string]string{"specscale.yaml": cfg, "policies.yaml": pol} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	logf, err := os.Create(filepath.Join(dir, "specscale.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	defer func() {
		if b.Failed() {
			out, _ := os.ReadFile(logf.Name())
			b.Logf("daemon log:\n%s", tail(out))
		}
	}()
	daemon := exec.Command(specscaleBin, "run", "--config", filepath.Join(dir, "specscale.yaml"))
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = daemon.Wait(); close(exited) }()
	defer func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = daemon.Process.Kill()
			<-exited
		}
	}()
	waitFor(b, 120*time.Second, "the daemon to be ready", func() bool {
		select {
		case <-exited:
			out, _ := os.ReadFile(logf.Name())
			b.Fatalf("daemon exited:\n%s", tail(out))
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	time.Sleep(5 * time.Second) // past start-up

	// Steady state.
	const window = 30 * time.Second
	dpid, ppid := daemon.Process.Pid, prom.Process.Pid
	d0, err1 := benchkit.ProcCPU(dpid)
	p0, err2 := benchkit.ProcCPU(ppid)
	if err1 != nil || err2 != nil {
		b.Fatal(err1, err2)
	}
	q0 := queries.Load()
	var mem benchkit.Memory
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if m, err := benchkit.ProcMemory(dpid); err == nil && m.RSS > mem.RSS {
			mem = m
		}
	}
	d1, _ := benchkit.ProcCPU(dpid)
	p1, _ := benchkit.ProcCPU(ppid)
	qps := float64(queries.Load()-q0) / window.Seconds()
	if got := len(cloud.Ledger()); got != 0 {
		b.Fatalf("%d changes in the steady state, want none", got)
	}

	// Reactions. The decision event (stamped when the engine published its
	// intent) splits each into the waits for a scrape and an evaluation,
	// and specscale's own part from the decision to the Apply.
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	decided := make(chan scaler.Event, 16)
	sub, err := nc.Subscribe(scaler.EventPrefix+string(scaler.EventDecision)+".>", func(m *nats.Msg) {
		var e scaler.Event
		if json.Unmarshal(m.Data, &e) == nil {
			decided <- e
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	var lat, waits, ours benchkit.Latencies
	rng := rand.New(rand.NewPCG(1, 2))
	i := 0
	for b.Loop() {
		k := i % n
		i++
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second)))) // a random phase against scrapes and ticks
		before := len(cloud.Ledger())
		changed := time.Now()
		values[k].Store(95) // utilisation 0.95: a step up
		var at time.Time
		waitFor(b, 30*time.Second, "the Apply of "+ids[k], func() bool {
			l := cloud.Ledger()
			for _, e := range l[min(before, len(l)):] {
				if e.Instance == ids[k] {
					at = e.At
					return true
				}
			}
			return false
		})
		lat.Add(at.Sub(changed))
		for e := (scaler.Event{}); e.Target != "sim/bandwidth_out/"+ids[k]; {
			select {
			case e = <-decided:
			case <-time.After(10 * time.Second):
				b.Fatalf("no decision event for %s", ids[k])
			}
			if e.Target == "sim/bandwidth_out/"+ids[k] {
				waits.Add(e.At.Sub(changed))
				ours.Add(at.Sub(e.At))
			}
		}
		values[k].Store(50) // 50 on 110: back in the dead band
	}
	b.StopTimer()
	cpuShare := func(d time.Duration) float64 { return 100 * d.Seconds() / window.Seconds() }
	b.ReportMetric(benchkit.Ms(lat.Percentile(50)), "p50-ms")
	b.ReportMetric(benchkit.Ms(lat.Percentile(90)), "p90-ms")
	b.ReportMetric(benchkit.Ms(lat.Max()), "max-ms")
	b.ReportMetric(benchkit.Ms(waits.Percentile(50)), "to-decision-p50-ms")
	b.ReportMetric(benchkit.Ms(ours.Percentile(50)), "decision-to-apply-p50-ms")
	b.ReportMetric(benchkit.Ms(ours.Max()), "decision-to-apply-max-ms")
	b.ReportMetric(cpuShare(d1-d0), "specscale-cpu-%")
	b.ReportMetric(cpuShare(p1-p0), "prometheus-cpu-%")
	b.ReportMetric(benchkit.MiB(mem.RSS), "rss-MB")
	b.ReportMetric(benchkit.MiB(mem.Anon), "rss-anon-MB")
	b.ReportMetric(qps, "queries/s")
	b.ReportMetric(benchkit.Load(), "load1")
}
