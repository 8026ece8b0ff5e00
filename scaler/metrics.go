package scaler

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the daemon's Prometheus metrics, registered on the registerer
// the caller passes (never the global one).
type Metrics struct {
	Decisions        *prometheus.CounterVec
	IntentsPublished *prometheus.CounterVec
	Executions       *prometheus.CounterVec
	ExecutionLatency *prometheus.HistogramVec
	ProviderCalls    *prometheus.CounterVec
	MissingData      *prometheus.CounterVec
	SourceQueries    *prometheus.CounterVec
	Events           *prometheus.CounterVec
	ConfigReloads    *prometheus.CounterVec
	TerminalFailures *prometheus.CounterVec
	EvaluationsTotal prometheus.Counter
	TickDuration     *prometheus.HistogramVec

	// Targets exports the per-target gauges (value, utilisation,
	// cooldown, downgrades left) of the engine attached with attach.
	Targets *targetMetrics
}

// attach makes the per-target gauges those of e's runners.
func (m *Metrics) attach(e *Engine) { m.Targets.engine.Store(e) }

// NewMetrics creates and registers the metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Targets: newTargetMetrics(),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_decisions_total", Help: "Evaluator decisions that asked for a change or were blocked by a guard, by policy, action and reason.",
		}, []string{"policy", "action", "reason"}),
		IntentsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_intents_published_total", Help: "Intents durably published, by policy and kind.",
		}, []string{"policy", "kind"}),
		Executions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_executions_total", Help: "Intents handled by executors, by provider account and outcome.",
		}, []string{"account", "outcome"}),
		ExecutionLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "specscale_execution_duration_seconds", Help: "Time from an intent's creation to its outcome being recorded.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}, []string{"account", "outcome"}),
		ProviderCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_provider_calls_total", Help: "Provider API calls, by account, operation and result class.",
		}, []string{"account", "op", "result"}),
		MissingData: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_missing_data_total", Help: "Evaluations that found no usable sample, by policy.",
		}, []string{"policy"}),
		SourceQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_source_queries_total", Help: "Metric source queries, by source and result.",
		}, []string{"source", "result"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_events_total", Help: "Audit events published, by type.",
		}, []string{"type"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_config_reloads_total", Help: "Config reloads, by result.",
		}, []string{"result"}),
		TerminalFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_intent_terminal_failures_total", Help: "Intents ended without being applied, by account and reason.",
		}, []string{"account", "reason"}),
		EvaluationsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "specscale_evaluations_total", Help: "Target evaluations.",
		}),
		TickDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "specscale_evaluation_tick_seconds", Help: "Time to query and evaluate one policy's targets.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"policy"}),
	}
	reg.MustRegister(m.Decisions, m.IntentsPublished, m.Executions, m.ExecutionLatency, m.ProviderCalls,
		m.MissingData, m.SourceQueries, m.Events, m.ConfigReloads, m.TerminalFailures, m.EvaluationsTotal, m.TickDuration,
		m.Targets)
	return m
}
