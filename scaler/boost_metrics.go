package scaler

import "github.com/prometheus/client_golang/prometheus"

// BoostMetrics are the boost engine's and the webhook receiver's metrics.
type BoostMetrics struct {
	// Events counts boosts started, extended, ended early, reverted and
	// refused, by source (alertmanager, manual, timer).
	Events *prometheus.CounterVec
	// Refusals counts refused boosts by reason code.
	Refusals *prometheus.CounterVec
	// Active is the number of active boosts, as of the last sweep.
	Active prometheus.Gauge
	// Notifications counts webhook requests by HTTP status code.
	Notifications *prometheus.CounterVec
}

// NewBoostMetrics creates and registers the boost metrics.
func NewBoostMetrics(reg prometheus.Registerer) *BoostMetrics {
	m := &BoostMetrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_boosts_total", Help: "Boost events by event (started, extended, ended_early, reverted, refused) and source (alertmanager, manual, timer).",
		}, []string{"event", "source"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_boost_refusals_total", Help: "Refused boosts by reason (no_owner, above_max, upgrade_only, no_downgrade_left, native_window, not_target, invalid).",
		}, []string{"reason"}),
		Active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "specscale_boosts_active", Help: "Active boosts, as of the last sweep.",
		}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_webhook_requests_total", Help: "Alertmanager webhook requests by HTTP status code.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.Events, m.Refusals, m.Active, m.Notifications)
	return m
}
