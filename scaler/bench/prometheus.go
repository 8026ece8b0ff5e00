package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/scaler"
)

// PrometheusOptions configure the Prometheus-path benchmark.
type PrometheusOptions struct {
	// Listen is where the benchmark serves its metric for Prometheus to
	// scrape (it must be in Prometheus' scrape_configs).
	Listen string
	// Metric is the gauge it serves, one series per target, labelled with
	// the policy's label; the policy's query must read it.
	Metric string
	// Count is how many reactions to time.
	Count int
	// Window is how long the steady state is watched for cost.
	Window time.Duration
	// DaemonURL and PrometheusURL, when set, are read (/metrics) for the
	// CPU and memory of each process and the daemon's query count.
	DaemonURL, PrometheusURL string
}

// exporter serves one gauge per target.
type exporter struct {
	metric, label string
	mu            sync.Mutex
	values        map[string]float64
	scrapes       atomic.Int64
}

func (x *exporter) set(instance string, v float64) {
	x.mu.Lock()
	x.values[instance] = v
	x.mu.Unlock()
}

func (x *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	x.scrapes.Add(1)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# HELP %s Load served by specscale bench prometheus.\n# TYPE %s gauge\n", x.metric, x.metric)
	x.mu.Lock()
	for inst, v := range x.values {
		fmt.Fprintf(&buf, "%s{%s=%q} %s\n", x.metric, x.label, inst, strconv.FormatFloat(v, 'g', -1, 64))
	}
	x.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write(buf.Bytes())
}

// Prometheus serves a gauge per target of the policy for the deployment's
// Prometheus to scrape, all in the policy's dead band; watches the steady
// state for opts.Window (CPU and memory of the daemon and of Prometheus,
// the daemon's query rate, when their /metrics URLs are given); then, count
// times and at a random moment, raises one target's gauge past the
// scale-up threshold and times it until the decision and the outcome
// events.
func Prometheus(ctx context.Context, e *Env, opts PrometheusOptions) (*Report, error) {
	p := e.Target.Policy
	if !strings.Contains(p.Metric.Query, opts.Metric) {
		return nil, fmt.Errorf("policy %q queries %q, which does not read %s: point the bench policy's query at it, such as max by (%s) (%s)",
			p.Name, p.Metric.Query, opts.Metric, p.Metric.Label, opts.Metric)
	}
	targets, states, err := e.targets(ctx, true)
	if err != nil {
		return nil, err
	}
	x := &exporter{metric: opts.Metric, label: p.Metric.Label, values: map[string]float64{}}
	mid := (p.Up.Threshold + p.Down.Threshold) / 2
	for _, t := range scaler.Targets(p) {
		if st := states[t.Key()]; st != nil {
			x.set(t.Instance, st.Value*mid)
		}
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: x, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	e.progress("serving %s on http://%s/metrics; waiting for Prometheus to scrape it", opts.Metric, ln.Addr())

	// Two scrapes and an evaluation, so the daemon has seen the dead band.
	deadline := time.Now().Add(e.Timeout)
	for x.scrapes.Load() < 2 {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("prometheus has not scraped http://%s/metrics within %s: add it to scrape_configs", ln.Addr(), e.Timeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, p.Interval); err != nil {
		return nil, err
	}

	r := &Report{Name: fmt.Sprintf("prometheus: %d reactions through Prometheus for policy %q (%d targets)", opts.Count, p.Name, len(targets))}
	if opts.Window > 0 {
		e.progress("watching the steady state for %s", opts.Window)
		figs, err := steady(ctx, opts)
		if err != nil {
			return nil, err
		}
		r.Figures = figs
	}
	w, err := e.watch()
	if err != nil {
		return nil, err
	}
	defer w.stop()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	start := time.Now()
	for i := 0; r.Outcome.Len() < opts.Count; i++ {
		if i >= 2*opts.Count+len(targets) {
			return r, fmt.Errorf("%d of %d changes of the metric led to a change; see the problems below", r.Outcome.Len(), opts.Count)
		}
		t := targets[i%len(targets)]
		st, _, err := e.Store.Get(ctx, t)
		if err != nil {
			return r, err
		}
		if st.Value >= p.Max {
			continue
		}
		// A random moment against the scrapes and the evaluations.
		if err := sleep(ctx, time.Duration(rng.Int64N(int64(p.Interval)))); err != nil {
			return r, err
		}
		events := w.expect(t.Key())
		changed := time.Now()
		x.set(t.Instance, above(st.Value, p.Up.Threshold))
		err = r.reaction(ctx, events, e.Timeout, t.Key(), changed)
		w.forget(t.Key())
		if err != nil {
			return r, err
		}
		if err := e.settle(ctx, x, t); err != nil {
			return r, err
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// settle puts a target's gauge back in the dead band of its new value.
func (e *Env) settle(ctx context.Context, x *exporter, t providers.Target) error {
	st, _, err := e.Store.Get(ctx, t)
	if err != nil {
		return err
	}
	p := e.Target.Policy
	x.set(t.Instance, st.Value*(p.Up.Threshold+p.Down.Threshold)/2)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// steady reads the daemon's and Prometheus' /metrics at both ends of the
// window.
func steady(ctx context.Context, opts PrometheusOptions) ([]Figure, error) {
	type reading struct {
		cpu, rss, queries, evals float64
	}
	read := func(url string) (reading, error) {
		if url == "" {
			return reading{}, nil
		}
		mfs, err := scrape(ctx, url)
		if err != nil {
			return reading{}, err
		}
		return reading{
			cpu: sum(mfs["process_cpu_seconds_total"]), rss: sum(mfs["process_resident_memory_bytes"]),
			queries: sum(mfs["specscale_source_queries_total"]), evals: sum(mfs["specscale_evaluations_total"]),
		}, nil
	}
	d0, err := read(opts.DaemonURL)
	if err != nil {
		return nil, err
	}
	p0, err := read(opts.PrometheusURL)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := sleep(ctx, opts.Window); err != nil {
		return nil, err
	}
	d1, err := read(opts.DaemonURL)
	if err != nil {
		return nil, err
	}
	p1, err := read(opts.PrometheusURL)
	if err != nil {
		return nil, err
	}
	secs := time.Since(t0).Seconds()
	var figs []Figure
	if opts.DaemonURL != "" {
		figs = append(figs,
			Figure{"specscale CPU", 100 * (d1.cpu - d0.cpu) / secs, "% of one core"},
			Figure{"specscale RSS", d1.rss / (1 << 20), "MiB"},
			Figure{"queries", (d1.queries - d0.queries) / secs, "per second"},
			Figure{"evaluations", (d1.evals - d0.evals) / secs, "per second"})
	}
	if opts.PrometheusURL != "" {
		figs = append(figs, Figure{"prometheus CPU", 100 * (p1.cpu - p0.cpu) / secs, "% of one core"})
	}
	return figs, nil
}

func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	url = strings.TrimSuffix(url, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// The text format: the parser reads nothing else.
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	return mfs, nil
}

func sum(mf *dto.MetricFamily) float64 {
	var s float64
	for _, m := range mf.GetMetric() {
		switch {
		case m.GetCounter() != nil:
			s += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			s += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			s += m.GetUntyped().GetValue()
		}
	}
	return s
}
