package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/specscale/specscale/scaler"
)

func newStatusCmd() *cobra.Command {
	var url, creds, output, pol, target string
	var events, schedules bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every target: value, desired value, last change, cooldown, downgrades left, boost, last error",
		Long: "Show every target as the running system sees it, read from NATS: the state bucket\n" +
			"(" + scaler.StateBucket + ") and, with --events, each target's latest event on " + scaler.EventStream + ".\n" +
			"The default address is the quickstart's embedded server.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			opts := []nats.Option{nats.Name("specscale status"), nats.Timeout(timeout)}
			if creds != "" {
				opts = append(opts, nats.UserCredentials(creds))
			}
			nc, err := nats.Connect(url, opts...)
			if err != nil {
				return fmt.Errorf("connect to %s: %w", url, err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			kv, err := js.KeyValue(ctx, scaler.StateBucket)
			if errors.Is(err, jetstream.ErrBucketNotFound) {
				return fmt.Errorf("%s has no bucket %s: has specscale run against this server?", url, scaler.StateBucket)
			}
			if err != nil {
				return fmt.Errorf("open bucket %s: %w", scaler.StateBucket, err)
			}
			states, bad, err := scaler.ReadStates(ctx, kv)
			if err != nil {
				return err
			}
			if len(bad) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: skipped %d undecodable entries: %s\n", len(bad), strings.Join(bad, ", "))
			}
			filter := scaler.StatusFilter{Policy: pol, TargetPrefix: target}
			var latest map[string]*scaler.Event
			if events {
				var keys []string
				for _, r := range scaler.StatusRows(states, nil, time.Now(), filter) {
					keys = append(keys, r.Target)
				}
				latest, err = scaler.ReadLatestEvents(ctx, js, keys)
				if err != nil {
					return err
				}
			}
			now := time.Now()
			var plans []scaler.SchedulePlan
			if skv, err := js.KeyValue(ctx, scaler.ScheduleBucket); err == nil {
				if plans, err = scaler.SchedulePlans(ctx, skv); err != nil {
					return fmt.Errorf("read schedules: %w", err)
				}
			}
			if pol != "" {
				plans = slices.DeleteFunc(plans, func(p scaler.SchedulePlan) bool { return p.Policy != pol })
			}
			if schedules {
				if output == "json" {
					return scaler.WriteSchedulesJSON(cmd.OutOrStdout(), plans)
				}
				return scaler.WriteSchedulesTable(cmd.OutOrStdout(), plans, now)
			}
			rows := scaler.StatusRows(states, latest, now, filter)
			if output == "json" {
				return scaler.WriteStatusJSON(cmd.OutOrStdout(), rows)
			}
			if err := scaler.WriteStatusTable(cmd.OutOrStdout(), rows, now); err != nil {
				return err
			}
			if len(plans) > 0 && target == "" {
				fmt.Fprintln(cmd.OutOrStdout())
				return scaler.WriteSchedulesTable(cmd.OutOrStdout(), plans, now)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "nats", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	f.StringVar(&creds, "creds", "", "NATS credentials file")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	f.StringVar(&pol, "policy", "", "only the targets of this policy")
	f.StringVar(&target, "target", "", "only targets whose key (account/resource/instance) starts with this")
	f.BoolVar(&events, "events", true, "also read each target's latest event from the audit stream")
	f.BoolVar(&schedules, "schedules", false, "list the schedules (next fires, last fire) instead of the targets")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long")
	return cmd
}
