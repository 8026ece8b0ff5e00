package scaler

import (
	"math"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// targetGauges are one target's exported values. The runner that owns the
// target writes them; a scrape reads them, hence the atomics.
type targetGauges struct {
	set                               atomic.Bool
	value, util, cooldown, downgrades atomicFloat
}

type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) Store(v float64) { f.bits.Store(math.Float64bits(v)) }
func (f *atomicFloat) Load() float64   { return math.Float64frombits(f.bits.Load()) }

// targetMetrics exports every target's value, utilisation, cooldown and
// downgrades left, read from the engine's runners at scrape time.
//
// A GaugeVec child per target and metric cost about 400 bytes each: at
// 100,000 targets the four gauges held 160 MB of a daemon's heap, more than
// everything else the engine keeps for the fleet. Reading the runners when
// scraped costs nothing between scrapes, and a target dropped by a reload
// stops being exported instead of lingering at its last value.
type targetMetrics struct {
	engine                            atomic.Pointer[Engine]
	value, util, cooldown, downgrades *prometheus.Desc
}

func newTargetMetrics() *targetMetrics {
	labels := []string{"policy", "target"}
	return &targetMetrics{
		value:      prometheus.NewDesc("specscale_target_value", "Each target's current value as last read or applied.", labels, nil),
		util:       prometheus.NewDesc("specscale_target_utilisation", "Each target's utilisation (metric ÷ current value) at its last evaluation.", labels, nil),
		cooldown:   prometheus.NewDesc("specscale_cooldown_remaining_seconds", "Seconds until the target's provider lock ends.", labels, nil),
		downgrades: prometheus.NewDesc("specscale_downgrades_left", "Downgrades left in the target's billing cycle (-1: no limit).", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *targetMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.value
	ch <- c.util
	ch <- c.cooldown
	ch <- c.downgrades
}

// Collect implements prometheus.Collector. Targets are exported once their
// value is known.
func (c *targetMetrics) Collect(ch chan<- prometheus.Metric) {
	e := c.engine.Load()
	if e == nil {
		return
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, r := range e.runners {
		for _, tr := range r.targets {
			g := &tr.gauges
			if !g.set.Load() {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.value, prometheus.GaugeValue, g.value.Load(), r.p.Name, tr.key)
			ch <- prometheus.MustNewConstMetric(c.util, prometheus.GaugeValue, g.util.Load(), r.p.Name, tr.key)
			ch <- prometheus.MustNewConstMetric(c.cooldown, prometheus.GaugeValue, g.cooldown.Load(), r.p.Name, tr.key)
			ch <- prometheus.MustNewConstMetric(c.downgrades, prometheus.GaugeValue, g.downgrades.Load(), r.p.Name, tr.key)
		}
	}
}
