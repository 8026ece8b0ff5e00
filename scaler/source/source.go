// Package source holds the metric sources that are polled: Prometheus
// instant queries and synthetic waveforms. Samples pushed on NATS arrive
// through the engine's subscription instead.
package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promcfg "github.com/prometheus/common/config"

	"github.com/specscale/specscale/policy"
)

// Poller answers one policy's metric for all its targets at once. It calls
// fn once per usable sample with the instance the sample names; instances
// it does not call fn for have no usable sample.
type Poller interface {
	Poll(ctx context.Context, p *policy.Policy, now time.Time, fn func(instance string, value float64)) error
}

// Usable reports whether a sample value can be evaluated: NaN and ±Inf
// cannot.
func Usable(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Prometheus runs one instant query per policy per evaluation and fans the
// result vector out to the targets by the policy's label.
type Prometheus struct {
	Name    string
	URL     *url.URL
	HTTP    *http.Client
	Timeout time.Duration
	// api serves everything but the query itself (the targets, for
	// ScrapePhase), through client_golang over the same transport.
	api v1.API
}

// NewPrometheus builds a source from Prometheus' own http_config, so basic
// auth, bearer tokens and TLS work as they do in Prometheus.
func NewPrometheus(name, addr string, hc promcfg.HTTPClientConfig, timeout time.Duration) (*Prometheus, error) {
	if err := hc.Validate(); err != nil {
		return nil, fmt.Errorf("source %q: http_config: %w", name, err)
	}
	rt, err := promcfg.NewRoundTripperFromConfig(hc, "specscale-"+name)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", name, err)
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", name, err)
	}
	client, err := api.NewClient(api.Config{Address: addr, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", name, err)
	}
	return &Prometheus{Name: name, URL: u, HTTP: &http.Client{Transport: rt}, Timeout: timeout, api: v1.NewAPI(client)}, nil
}

// ErrNotVector is returned for a query whose result is not an instant
// vector.
var ErrNotVector = errors.New("query result is not an instant vector")

// Poll implements Poller.
func (s *Prometheus) Poll(ctx context.Context, p *policy.Policy, now time.Time, fn func(string, float64)) error {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	err := queryVector(ctx, s.HTTP, s.URL, p.Metric.Query, now, s.Timeout, p.Metric.Label, func(inst string, v float64) {
		if Usable(v) {
			fn(inst, v)
		}
	})
	if errors.Is(err, ErrNotVector) {
		return fmt.Errorf("source %q: policy %q: %w", s.Name, p.Name, err)
	}
	if err != nil {
		return fmt.Errorf("source %q: query for policy %q: %w", s.Name, p.Name, err)
	}
	return nil
}

// Synthetic produces each target's waveform, measured from Start.
type Synthetic struct {
	Start time.Time
}

// Poll implements Poller.
func (s *Synthetic) Poll(_ context.Context, p *policy.Policy, now time.Time, fn func(string, float64)) error {
	w := p.Metric.Synthetic
	if w == nil {
		return fmt.Errorf("policy %q has no synthetic waveform", p.Name)
	}
	t := now.Sub(s.Start)
	for _, inst := range p.Targets.Instances {
		fn(inst, w.At(inst, t))
	}
	return nil
}
