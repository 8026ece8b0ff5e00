package scaler_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	promcfg "github.com/prometheus/common/config"
	"go.uber.org/zap/zaptest"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
	"github.com/specscale/specscale/scaler/source"
)

var promcfgNone = promcfg.HTTPClientConfig{}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs Debian's prometheus on a loopback port, scraping
// target every second. It fails the test when the binary is missing:
// scripts/test installs it.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed (scripts/test installs the Debian package): %v", err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: exporter
    static_configs: [{targets: [%q]}]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + addr
	waitFor(t, 60*time.Second, "prometheus to have scraped the exporter", func() bool {
		resp, err := http.Get(base + "/api/v1/query?query=up%3D%3D1")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && len(b) > 0 && strings.Contains(string(b), `"exporter"`)
	})
	return base
}

// queryCounter is a proxy in front of Prometheus that counts instant
// queries and remembers their expressions.
type queryCounter struct {
	mu      sync.Mutex
	queries []string
}

func (q *queryCounter) proxy(t *testing.T, target string) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/query" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			expr := form.Get("query")
			if expr == "" {
				expr = r.URL.Query().Get("query")
			}
			q.mu.Lock()
			q.queries = append(q.queries, expr)
			q.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (q *queryCounter) snapshot() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.queries...)
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += metricValue(m)
		}
	}
	return total
}

func metricValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// One Prometheus query per evaluation serves every target of a policy,
// fanned out by a label: the busy instance scales, the quiet one holds, and
// an instance the policy does not own is ignored.
func TestPrometheusQueryFansOutToTargets(t *testing.T) {
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# TYPE tx_mbps gauge\n"+
			"tx_mbps{host=\"web-1\"} 45\n"+
			"tx_mbps{host=\"web-2\"} 5\n"+
			"tx_mbps{host=\"db-9\"} 500\n")
	}))
	defer exporter.Close()
	prom := startPrometheus(t, exporter.Listener.Addr().String())
	var qc queryCounter
	promURL := qc.proxy(t, prom)

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"specscale.yaml": fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
nats: {embedded: {data_dir: %q}}
sources:
  - {name: prom, type: prometheus, url: %q, timeout: 5s}
providers:
  - {name: sim, type: simulated, write_rate: 100}
policies: [policies.yaml]
`, filepath.Join(dir, "data"), promURL),
		"policies.yaml": `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1, web-2]}
    metric: {source: prom, query: 'max by (host) (tx_mbps)', label: host, scrape_job: exporter}
    evaluation_interval: 1s
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 50%, cooldown: 1h}
    down: {threshold: 0.2, for: 1h, stabilization: 1h}
`,
	})
	cloud := newCloud(t, time.Hour,
		simcloud.Instance{ID: "web-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}},
		simcloud.Instance{ID: "web-2", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	reg := prometheus.NewRegistry()
	d, err := scaler.New(scaler.Options{ConfigPath: filepath.Join(dir, "specscale.yaml"), Log: zaptest.NewLogger(t),
		Registry: reg, Providers: map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	defer stop()

	waitFor(t, 30*time.Second, "web-1's scale-up", func() bool { return len(cloud.Ledger()) >= 1 })
	waitFor(t, 30*time.Second, "five queries", func() bool { return len(qc.snapshot()) >= 5 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	ledger := cloud.Ledger()
	if len(ledger) != 1 || ledger[0].Instance != "web-1" || ledger[0].From != 10 || ledger[0].To != 15 {
		t.Fatalf("ledger = %+v, want only web-1 10 → 15", ledger)
	}
	queries := qc.snapshot()
	for _, q := range queries {
		if q != "max by (host) (tx_mbps)" {
			t.Fatalf("unexpected query %q", q)
		}
	}
	// Every query served both targets: evaluations are twice the queries
	// that answered.
	ok := counterValue(t, reg, "specscale_source_queries_total")
	evals := counterValue(t, reg, "specscale_evaluations_total")
	if ok == 0 || evals != 2*ok {
		t.Errorf("%v evaluations for %v queries, want two per query", evals, ok)
	}
	if int(ok) > len(queries) {
		t.Errorf("daemon counted %v queries, the proxy saw %d", ok, len(queries))
	}
}

// The scrape phase learned from a real Prometheus' targets is when its
// scrapes of the exporter happen: the offset into each second at which
// the exporter is asked, plus the scrape's short duration.
func TestPrometheusScrapePhase(t *testing.T) {
	var mu sync.Mutex
	var asked []time.Time
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, time.Now())
		mu.Unlock()
		fmt.Fprint(w, "# TYPE tx_mbps gauge\ntx_mbps{host=\"web-1\"} 45\n")
	}))
	defer exporter.Close()
	prom := startPrometheus(t, exporter.Listener.Addr().String())
	src, err := source.NewPrometheus("prom", prom, promcfgNone, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	phase, err := src.ScrapePhase(context.Background(), "exporter", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	last := asked[len(asked)-1]
	mu.Unlock()
	scrapedAt := time.Duration(last.UnixNano() % int64(time.Second))
	// Distance on the circle of one second between the exporter's view and
	// the phase Prometheus reports (start + duration).
	d := (phase - scrapedAt + time.Second) % time.Second
	if d > time.Second/2 {
		d = time.Second - d
	}
	if d > 200*time.Millisecond {
		t.Errorf("learned phase %v, but the exporter is scraped at %v into each second", phase, scrapedAt)
	}
	if _, err := src.ScrapePhase(context.Background(), "no-such-job", time.Second); err == nil {
		t.Error("a job Prometheus does not scrape gave a phase")
	}
}
