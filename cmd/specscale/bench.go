package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/specscale/specscale/providers/registry"
	"github.com/specscale/specscale/scaler"
	"github.com/specscale/specscale/scaler/bench"
)

// benchFlags are what every bench subcommand shares.
type benchFlags struct {
	config, url, creds, policy string
	count                      int
	timeout                    time.Duration
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a running deployment: reaction latency, intent throughput, the Prometheus path",
		Long: "Measure a running deployment from outside, through its NATS server.\n\n" +
			"Each subcommand drives one policy of the daemon's config (--policy), and only a\n" +
			"policy that cannot touch a real cloud: its provider account is of type simulated,\n" +
			"or the policy or its account has dry_run: true (the executor then does everything\n" +
			"but the write call and records would_apply). Give the bench its own policy and\n" +
			"targets: it pushes samples, publishes intents and serves metrics for them.",
	}
	cmd.AddCommand(newBenchLatencyCmd(), newBenchIntentsCmd(), newBenchPrometheusCmd())
	return cmd
}

func (f *benchFlags) register(cmd *cobra.Command, count int) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "specscale.yaml", "the daemon's config file (to find the policy and check it is safe to drive)")
	fl.StringVar(&f.url, "nats", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	fl.StringVar(&f.creds, "creds", "", "NATS credentials file")
	fl.StringVar(&f.policy, "policy", "bench", "the policy to drive")
	fl.IntVar(&f.count, "count", count, "how many to measure")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on one reaction after this long")
}

// env loads the config, checks the policy and connects.
func (f *benchFlags) env(cmd *cobra.Command, sourceType string) (*bench.Env, func(), error) {
	cfg, diags := scaler.LoadConfig(f.config, "", registry.Builtin())
	if err := diags.Err(); err != nil {
		return nil, nil, err
	}
	t, err := bench.Check(cfg, f.policy, sourceType)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range t.Warnings() {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
	}
	opts := []nats.Option{nats.Name("specscale bench"), nats.Timeout(f.timeout)}
	if f.creds != "" {
		opts = append(opts, nats.UserCredentials(f.creds))
	}
	nc, err := nats.Connect(f.url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", f.url, err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	e, err := bench.NewEnv(ctx, nc, t, f.timeout, cmd.ErrOrStderr())
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return e, nc.Close, nil
}

// finish prints the report, then the error if any.
func finish(cmd *cobra.Command, r *bench.Report, err error) error {
	if r != nil {
		r.Write(cmd.OutOrStdout())
	}
	return err
}

func newBenchLatencyCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "latency",
		Short: "Time pushed samples to the change: sample on NATS → decision → outcome",
		Long: "Push samples on specscale.metrics.<target>, one at a time, each past the scale-up\n" +
			"threshold of the target's present value, and time each until the decision event and\n" +
			"until the outcome event (applied, or would_apply in dry run). The policy's metric\n" +
			"source must be of type nats; for: 0s and no up.cooldown measure the pipeline alone.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, closeNC, err := f.env(cmd, "nats")
			if err != nil {
				return err
			}
			defer closeNC()
			r, err := bench.Latency(cmd.Context(), e, f.count)
			return finish(cmd, r, err)
		},
	}
	f.register(cmd, 200)
	return cmd
}

func newBenchIntentsCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "intents",
		Short: "Intent throughput: intents published → outcome recorded, per second",
		Long: "Publish manual intents for the policy's targets, one per target per round, a round\n" +
			"at a time, and measure how many the executors finish per second and each one's time\n" +
			"from publish to outcome. On a simulated account each target takes one intent per\n" +
			"provider lock (5 minutes by default): give the bench account lock: 0s, or dry run.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, closeNC, err := f.env(cmd, "")
			if err != nil {
				return err
			}
			defer closeNC()
			r, err := bench.Intents(cmd.Context(), e, f.count)
			return finish(cmd, r, err)
		},
	}
	f.register(cmd, 1000)
	return cmd
}

func newBenchPrometheusCmd() *cobra.Command {
	var f benchFlags
	var o bench.PrometheusOptions
	cmd := &cobra.Command{
		Use:   "prometheus",
		Short: "The Prometheus path: a metric change → scrape → query → change; and its cost",
		Long: "Serve a gauge per target of the policy (--metric, labelled with the policy's label)\n" +
			"on --listen for the deployment's Prometheus to scrape — add it to scrape_configs, and\n" +
			"point the policy's query at it, such as max by (instance) (specscale_bench_load);\n" +
			"set the policy's metric.scrape_job to that scrape job's name so evaluations follow\n" +
			"its scrapes.\n" +
			"Then watch the steady state for --window (CPU and RSS of the daemon and of Prometheus,\n" +
			"and the query rate, read from --daemon and --prometheus /metrics), and time --count\n" +
			"changes of one target's gauge past the scale-up threshold to the decision and outcome.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, closeNC, err := f.env(cmd, "prometheus")
			if err != nil {
				return err
			}
			defer closeNC()
			o.Count = f.count
			r, err := bench.Prometheus(cmd.Context(), e, o)
			return finish(cmd, r, err)
		},
	}
	f.register(cmd, 30)
	fl := cmd.Flags()
	fl.StringVar(&o.Listen, "listen", "127.0.0.1:9464", "address to serve the bench metric on")
	fl.StringVar(&o.Metric, "metric", "specscale_bench_load", "name of the gauge to serve")
	fl.DurationVar(&o.Window, "window", 30*time.Second, "how long to watch the steady state for cost (0: skip)")
	fl.StringVar(&o.DaemonURL, "daemon", "", "the daemon's HTTP address, such as http://127.0.0.1:8080, for its CPU, RSS and query rate")
	fl.StringVar(&o.PrometheusURL, "prometheus", "", "Prometheus' address, such as http://127.0.0.1:9090, for its CPU")
	return cmd
}
