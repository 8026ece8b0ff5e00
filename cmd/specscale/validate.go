package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers/registry"
	"github.com/specscale/specscale/scaler"
)

// upcomingFires is how many next fire times validate shows per schedule.
const upcomingFires = 3

func newValidateCmd() *cobra.Command { return newValidateCmdAt(time.Now) }

// newValidateCmdAt is validate with the clock its next fire times count
// from.
func newValidateCmdAt(now func() time.Time) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the config and every policy file it names",
		Long: "Check the config and every policy file it names. Prints every error and warning,\n" +
			"each as file:line:col: path.to.field: message, then an info line per schedule with\n" +
			"its next fire times (and any daylight-saving transition in the coming year that\n" +
			"skips or repeats one); exits 1 when there is an error.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, diags := scaler.LoadConfig(configPath, "", registry.Builtin())
			out := cmd.OutOrStdout()
			for _, d := range diags {
				fmt.Fprintln(out, d.String())
			}
			if cfg != nil {
				for _, u := range policy.NextFires(cfg.Loaded, now(), upcomingFires) {
					for _, line := range u.Lines() {
						fmt.Fprintln(out, line)
					}
				}
			}
			if diags.HasErrors() {
				return &exitError{code: 1}
			}
			fmt.Fprintf(out, "%s: valid (%d policy files, %d policies)\n", configPath, len(cfg.PolicyFiles), len(cfg.Loaded))
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "specscale.yaml", "daemon config file")
	return cmd
}
