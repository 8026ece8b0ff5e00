package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/specscale/specscale/internal/benchkit"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
)

// The memory a daemon needs for a large fleet, measured on a real daemon
// process: one policy of n targets on the simulated cloud (served from this
// process over HTTP, so the cloud's memory is not the daemon's), its metric
// from a fake Prometheus query API answering one n-series vector, the
// embedded nats-server holding the state of every target. The daemon starts,
// reads every target once (the reconciler's first pass), and evaluates
// every 5 s; the benchmark samples its resident memory from /proc for six
// ticks after it is ready.
//
//	go test ./internal/e2e -run '^$' -bench DaemonRSS -benchtime 1x -timeout 30m
//
// Reported: rss-MB, the highest VmRSS once ready; hwm-MB, the peak
// including start-up (VmHWM); ready-s, start to ready (the first pass over
// every target); cpu-ms/tick once ready; queries, the queries served.
func BenchmarkDaemonRSS(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			for b.Loop() {
				daemonRSS(b, n)
			}
		})
	}
}

func daemonRSS(b *testing.B, n int) {
	specscaleBin, _ := binaries(b)
	dir := b.TempDir()

	cloud, err := simcloud.New(simcloud.Rules{Lock: 0, TokenMemory: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	var inst strings.Builder
	var vec strings.Builder
	vec.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	now := float64(time.Now().Unix())
	for i := range n {
		id := fmt.Sprintf("i-%07d", i)
		if err := cloud.Put(simcloud.Instance{ID: id, Values: map[providers.Resource]float64{providers.BandwidthOut: 100}}); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			inst.WriteString(", ")
			vec.WriteByte(',')
		}
		inst.WriteString(id)
		// 50–69 on a value of 100: inside the 0.4–0.8 dead band.
		fmt.Fprintf(&vec, `{"metric":{"__name__":"tx_mbps","instance":%q,"job":"edge"},"value":[%.3f,"%d"]}`, id, now, 50+i%20)
	}
	vec.WriteString(`]}}`)
	body := []byte(vec.String())
	cloudSrv := httptest.NewServer(simcloud.NewServer(cloud))
	defer cloudSrv.Close()
	var queries atomic.Int64
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer prom.Close()

	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	cfg := fmt.Sprintf(`
http: {listen: %q}
log: {level: warn, format: json}
nats: {embedded: {data_dir: %q}}
sources:
  - {name: prom, type: prometheus, url: %q, timeout: 30s}
providers:
  - name: sim
    type: simulated
    timeout: 30s
    options: {url: %q}
policies: [policies.yaml]
`, httpAddr, filepath.Join(dir, "data"), prom.URL, cloudSrv.URL)
	pol := fmt.Sprintf(`
policies:
  - name: fleet
    targets: {provider: sim, resource: bandwidth_out, instances: [%s]}
    metric: {source: prom, query: 'max by (instance) (tx_mbps)'}
    evaluation_interval: 5s
    min: 10
    max: 1000
    up:   {threshold: 0.8, for: 1m, step: 50%%, cooldown: 5m}
    down: {threshold: 0.4, for: 5m, stabilization: 10m, cooldown: 10m}
`, inst.String())
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

	start := time.Now()
	cmd := exec.Command(specscaleBin, "run", "--config", filepath.Join(dir, "specscale.yaml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	pid := cmd.Process.Pid

	ready := func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for !ready() {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logf.Name())
			b.Fatalf("daemon exited before ready: %v\n%s", err, tail(out))
		case <-time.After(250 * time.Millisecond):
		}
		if time.Since(start) > 20*time.Minute {
			b.Fatal("daemon not ready after 20 minutes")
		}
	}
	readyIn := time.Since(start)
	q0 := queries.Load()
	cpu0, err := benchkit.ProcCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	var peak benchkit.Memory
	deadline := time.Now().Add(31 * time.Second)
	for time.Now().Before(deadline) {
		m, err := benchkit.ProcMemory(pid)
		if err != nil {
			b.Fatal(err)
		}
		if m.RSS > peak.RSS {
			peak = m
		}
		time.Sleep(250 * time.Millisecond)
	}
	cpu1, _ := benchkit.ProcCPU(pid)
	m, _ := benchkit.ProcMemory(pid)
	ticks := queries.Load() - q0
	if ticks < 5 {
		b.Fatalf("%d queries in 31 s, want a tick every 5 s", ticks)
	}
	b.ReportMetric(benchkit.MiB(peak.RSS), "rss-MB")
	b.ReportMetric(benchkit.MiB(peak.Anon), "rss-anon-MB")
	b.ReportMetric(benchkit.MiB(m.HWM), "hwm-MB")
	b.ReportMetric(readyIn.Seconds(), "ready-s")
	b.ReportMetric(float64(cpu1-cpu0)/float64(ticks)/1e6, "cpu-ms/tick")
	b.ReportMetric(float64(queries.Load()), "queries")
	b.ReportMetric(benchkit.Load(), "load1")
	if stats := cloud.Stats(); stats.Writes != 0 {
		b.Errorf("the cloud saw %d writes; the fleet sits in the dead band", stats.Writes)
	}
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
