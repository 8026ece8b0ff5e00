package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/specscale/specscale/providers/simcloud"
)

func newSimcloudCmd() *cobra.Command {
	var listen, stateFile string
	var lock time.Duration
	var downgrades int
	cmd := &cobra.Command{
		Use:   "simcloud",
		Short: "Run the simulated cloud as its own process (HTTP API, ledger readable)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules := simcloud.DefaultRules()
			if cmd.Flags().Changed("lock") {
				rules.Lock = lock
			}
			if cmd.Flags().Changed("downgrades-per-cycle") {
				rules.DowngradesPerCycle = downgrades
			}
			var opts []simcloud.Option
			if stateFile != "" {
				opts = append(opts, simcloud.WithStateFile(stateFile))
			}
			cloud, err := simcloud.New(rules, opts...)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "simulated cloud listening on http://%s\n", ln.Addr())
			srv := &http.Server{Handler: simcloud.NewServer(cloud), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8600", "address of the HTTP API")
	cmd.Flags().StringVar(&stateFile, "state", "", "file that keeps the cloud's instances and ledger across restarts")
	cmd.Flags().DurationVar(&lock, "lock", 5*time.Minute, "lock after each successful change")
	cmd.Flags().IntVar(&downgrades, "downgrades-per-cycle", 3, "downgrade quota per billing cycle (0: none)")
	return cmd
}
