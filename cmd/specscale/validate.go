package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/specscale/specscale/providers/registry"
	"github.com/specscale/specscale/scaler"
)

func newValidateCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the config and every policy file it names",
		Long: "Check the config and every policy file it names. Prints every error and warning,\n" +
			"each as file:line:col: path.to.field: message; exits 1 when there is an error.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, diags := scaler.LoadConfig(configPath, "", registry.Builtin())
			for _, d := range diags {
				fmt.Fprintln(cmd.OutOrStdout(), d.String())
			}
			if diags.HasErrors() {
				return &exitError{code: 1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%d policy files, %d policies)\n", configPath, len(cfg.PolicyFiles), len(cfg.Loaded))
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "specscale.yaml", "daemon config file")
	return cmd
}
