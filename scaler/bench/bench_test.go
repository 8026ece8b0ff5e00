package bench_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/scaler"
	"github.com/specscale/specscale/scaler/bench"
)

func TestCheck(t *testing.T) {
	cfg := &config.Config{
		File: "specscale.yaml",
		Providers: []config.Provider{
			{Name: "sim", Type: "simulated"},
			{Name: "prod", Type: "aliyun"},
			{Name: "prod-dry", Type: "aliyun", DryRun: true},
		},
		Sources: []config.Source{{Name: "pushed", Type: "nats"}, {Name: "prom", Type: "prometheus"}},
		Loaded: []*policy.Policy{
			{Name: "bench", Targets: policy.Targets{Provider: "sim"}, Metric: policy.Metric{Source: "pushed"}},
			{Name: "web", Targets: policy.Targets{Provider: "prod"}, Metric: policy.Metric{Source: "prom"}},
			{Name: "web-dry", Targets: policy.Targets{Provider: "prod"}, Metric: policy.Metric{Source: "prom"}, DryRun: true},
			{Name: "edge", Targets: policy.Targets{Provider: "prod-dry"}, Metric: policy.Metric{Source: "pushed"}},
		},
	}
	tests := []struct {
		policy, source string
		wantErr        string
		unsafe, dryRun bool
	}{
		{policy: "bench", source: "nats"},
		{policy: "bench", source: ""},
		{policy: "web-dry", source: "prometheus", dryRun: true},
		{policy: "edge", source: "nats", dryRun: true},
		{policy: "web", source: "prometheus", unsafe: true,
			wantErr: `policy "web" acts on provider account "prod" (type aliyun): bench drives only a policy on a simulated account or in dry run; set dry_run: true on the policy, or point it at a simulated account`},
		{policy: "bench", source: "prometheus", wantErr: `policy "bench": its metric source must be of type prometheus for this benchmark`},
		{policy: "nope", wantErr: `no policy "nope" in specscale.yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.policy+"/"+tt.source, func(t *testing.T) {
			got, err := bench.Check(cfg, tt.policy, tt.source)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				if errors.Is(err, bench.ErrUnsafe) != tt.unsafe {
					t.Errorf("errors.Is(err, ErrUnsafe) = %v, want %v", !tt.unsafe, tt.unsafe)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Policy.Name != tt.policy || got.DryRun != tt.dryRun {
				t.Errorf("target = %s dry run %v, want %s dry run %v", got.Policy.Name, got.DryRun, tt.policy, tt.dryRun)
			}
		})
	}
}

// daemon runs a daemon in-process on the config in dir until the test
// ends, and connects to its NATS server.
func daemon(t *testing.T, dir string) (*scaler.Daemon, *nats.Conn) {
	t.Helper()
	d, err := scaler.New(scaler.Options{ConfigPath: filepath.Join(dir, "specscale.yaml"), Log: zap.NewNop(), Replica: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready in 30s")
	}
	nc, err := nats.Connect(d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return d, nc
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const benchConfig = `
http: {listen: "127.0.0.1:0"}
nats:
  embedded: {data_dir: %q, listen: "127.0.0.1:0", sync_interval: 2m}
sources:
  - {name: pushed, type: nats}
  - {name: prom, type: prometheus, url: %q, timeout: 2s}
providers:
  - name: sim
    type: simulated
    write_rate: 1000
    write_burst: 100
    options:
      lock: 0s
      downgrades_per_cycle: 0
      instances:
        - {id: b-1, values: {bandwidth_out: 20}}
        - {id: b-2, values: {bandwidth_out: 20}}
        - {id: b-3, values: {bandwidth_out: 20}}
policies: [policies.yaml]
`

const benchPolicies = `
policies:
  - name: bench
    targets: {provider: sim, resource: bandwidth_out, instances: [b-1, b-2]}
    metric: {source: pushed}
    evaluation_interval: 1h
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 1}
    down: {threshold: 0.2, for: 1h}
  - name: bench-dry
    targets: {provider: sim, resource: bandwidth_out, instances: [b-3]}
    metric: {source: prom, query: 'max by (host) (specscale_bench_load)', label: host}
    evaluation_interval: 1s
    max: 100
    dry_run: true
    up:   {threshold: 0.8, for: 0s, step: 1}
    down: {threshold: 0.2, for: 1h}
`

// fakePrometheus answers instant queries with the gauges of the bench's
// exporter, scraped at each query: the part of Prometheus the daemon sees.
func fakePrometheus(t *testing.T, exporter string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var result []string
		if resp, err := http.Get("http://" + exporter + "/metrics"); err == nil {
			parser := expfmt.NewTextParser(model.UTF8Validation)
			mfs, err := parser.TextToMetricFamilies(resp.Body)
			resp.Body.Close()
			if err == nil {
				for _, m := range mfs["specscale_bench_load"].GetMetric() {
					host := m.GetLabel()[0].GetValue()
					result = append(result, fmt.Sprintf(`{"metric":{"host":%q},"value":[%d,"%g"]}`, host, time.Now().Unix(), m.GetGauge().GetValue()))
				}
			}
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(result, ","))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The three benchmarks against a running daemon: samples pushed on NATS
// scale a simulated target; intents are applied; in dry run, a metric served
// for Prometheus becomes would_apply outcomes, and the daemon's /metrics
// gives its cost.
func TestBenchAgainstARunningDaemon(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, ignore)
	})
	dir := t.TempDir()
	exporter := freeAddr(t)
	prom := fakePrometheus(t, exporter)
	write(t, dir, map[string]string{
		"specscale.yaml": fmt.Sprintf(benchConfig, filepath.Join(dir, "data"), prom.URL),
		"policies.yaml":  benchPolicies,
	})
	d, nc := daemon(t, dir)
	cfg := d.Config()
	ctx := context.Background()

	target, err := bench.Check(cfg, "bench", "nats")
	if err != nil {
		t.Fatal(err)
	}
	env, err := bench.NewEnv(ctx, nc, target, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bench.Latency(ctx, env, 6)
	if err != nil {
		t.Fatalf("latency: %v (problems %v)", err, r.Problems)
	}
	if r.Outcome.Len() != 6 || r.Decide.Len() != 6 || len(r.Problems) != 0 {
		t.Errorf("latency: %d outcomes, %d decisions, problems %v; want 6, 6, none", r.Outcome.Len(), r.Decide.Len(), r.Problems)
	}

	r, err = bench.Intents(ctx, env, 5)
	if err != nil {
		t.Fatalf("intents: %v (problems %v)", err, r.Problems)
	}
	if r.Outcome.Len() != 5 || len(r.Figures) != 1 || r.Figures[0].Value <= 0 {
		t.Errorf("intents: %d outcomes, figures %v; want 5 and a throughput", r.Outcome.Len(), r.Figures)
	}

	dry, err := bench.Check(cfg, "bench-dry", "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	env.Target = dry
	r, err = bench.Prometheus(ctx, env, bench.PrometheusOptions{Listen: exporter, Metric: "specscale_bench_load", Count: 1,
		Window: 1500 * time.Millisecond, DaemonURL: "http://" + d.HTTPAddr()})
	if err != nil {
		t.Fatalf("prometheus: %v (problems %v)", err, r.Problems)
	}
	if r.Outcome.Len() != 1 {
		t.Errorf("prometheus: %d outcomes, want 1", r.Outcome.Len())
	}
	figures := map[string]float64{}
	for _, f := range r.Figures {
		figures[f.Name] = f.Value
	}
	if figures["specscale RSS"] <= 0 || figures["queries"] <= 0 {
		t.Errorf("figures = %v, want the daemon's RSS and query rate", figures)
	}
	var out strings.Builder
	r.Write(&out)
	if !strings.Contains(out.String(), "to outcome:") {
		t.Errorf("report:\n%s", out.String())
	}
}
