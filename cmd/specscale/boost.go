package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/specscale/specscale/scaler"
)

// DefaultNATSURL is where the quickstart's embedded NATS listens.
const DefaultNATSURL = "nats://127.0.0.1:4222"

func newBoostCmd() *cobra.Command {
	var (
		natsURL, target, to, reason string
		dur                         time.Duration
		cancel                      bool
		timeout                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "boost --target KEY (--to V --for D --reason TEXT | --cancel)",
		Short: "Boost a target for a while, or end its boost now",
		Long: "Boost a target (account/resource/instance) to a value for a duration, or cancel its boost.\n" +
			"The request goes to the running daemon over NATS; the daemon applies the same rules as to an\n" +
			"alert's boost (the policy's bounds, never lowering, extending rather than stacking) and answers\n" +
			"once the boost is recorded and its intent durably published.\n\n" +
			"  specscale boost --target sim/bandwidth_out/web-1 --to 100 --for 2h --reason \"launch day\"\n" +
			"  specscale boost --target sim/bandwidth_out/web-1 --to max --for 30m --reason \"DDoS drill\"\n" +
			"  specscale boost --cancel --target sim/bandwidth_out/web-1",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				return errors.New("--target is required")
			}
			req := scaler.ManualBoost{Target: target, Reason: reason, Cancel: cancel}
			if !cancel {
				if to == "" || dur <= 0 || reason == "" {
					return errors.New("--to, --for and --reason are required (or --cancel)")
				}
				req.To, req.For = to, dur.String()
			}
			nc, err := nats.Connect(natsURL, nats.Name("specscale boost"))
			if err != nil {
				return fmt.Errorf("connect to %s: %w", natsURL, err)
			}
			defer nc.Close()
			body, err := json.Marshal(req)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := context.WithTimeout(ctx, timeout)
			defer stop()
			msg, err := nc.RequestWithContext(ctx, scaler.BoostRequestSubject, body)
			if err != nil {
				if errors.Is(err, nats.ErrNoResponders) {
					return fmt.Errorf("no specscale daemon answers on %s at %s", scaler.BoostRequestSubject, natsURL)
				}
				return fmt.Errorf("boost request: %w", err)
			}
			var reply scaler.ManualBoostReply
			if err := json.Unmarshal(msg.Data, &reply); err != nil {
				return fmt.Errorf("undecodable answer: %w", err)
			}
			if reply.Error != "" {
				return fmt.Errorf("the daemon refused the request: %s", reply.Error)
			}
			r := reply.Result
			out := cmd.OutOrStdout()
			switch r.Outcome {
			case scaler.BoostStarted, scaler.BoostExtended, scaler.BoostUnchanged:
				how := "the daemon reverts it"
				if r.Native {
					how = "the provider reverts it (native temporary upgrade)"
				}
				fmt.Fprintf(out, "%s: boost %s: %g until %s; %s\n", r.Target, r.Outcome, r.Value, r.Until.UTC().Format(time.RFC3339), how)
			case scaler.BoostRefused:
				fmt.Fprintf(out, "%s: boost refused: %s\n", r.Target, r.Why)
				return &exitError{code: 1}
			case scaler.BoostNone:
				fmt.Fprintf(out, "%s: no active boost\n", r.Target)
			default:
				fmt.Fprintf(out, "%s: boost %s: %s\n", r.Target, r.Outcome, r.Why)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&natsURL, "nats", DefaultNATSURL, "NATS URL of the running system")
	f.StringVar(&target, "target", "", "target key: account/resource/instance")
	f.StringVar(&to, "to", "", "boost value: a number, max (the policy's max) or a factor such as 2x")
	f.DurationVar(&dur, "for", 0, "how long the boost lasts, such as 2h")
	f.StringVar(&reason, "reason", "", "why, for the audit trail")
	f.BoolVar(&cancel, "cancel", false, "end the target's boost now")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the daemon's answer")
	return cmd
}
