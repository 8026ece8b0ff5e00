package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/providers/registry"
	"github.com/specscale/specscale/scaler"
)

func newRunCmd() *cobra.Command {
	var configPath, dataDir string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, diags := scaler.LoadConfig(configPath, dataDir, registry.Builtin())
			if diags.HasErrors() {
				fmt.Fprintln(cmd.ErrOrStderr(), diags.Errors())
				return &exitError{code: 1}
			}
			log, err := newLogger(cfg.Log, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			d, err := scaler.New(scaler.Options{ConfigPath: configPath, DataDir: dataDir, Log: log})
			if err != nil {
				return err
			}
			// SIGHUP reloads; a bad config is refused and the running one kept.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-hup:
						_ = d.Reload(cmd.Context())
					case <-cmd.Context().Done():
						return
					}
				}
			}()
			return d.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "specscale.yaml", "daemon config file")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data directory of the embedded NATS server (overrides nats.embedded.data_dir)")
	return cmd
}

// newLogger builds zap from the config: console for development, JSON for
// production. Sampling is off: decision and audit lines must not be dropped.
func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "json" {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), zap.NewAtomicLevelAt(level))
	return zap.New(core), nil
}
