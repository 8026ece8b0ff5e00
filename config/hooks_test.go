package config

import (
	"strings"
	"testing"
)

func TestLoadHooks(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{file: "testdata/hooks-good.yaml"},
		{file: "testdata/hooks-broken.yaml", want: []string{
			`testdata/hooks-broken.yaml:3:5: hooks.alertmanager.token: required: {env: NAME} or {file: PATH} holding the bearer token Alertmanager sends`,
			`testdata/hooks-broken.yaml:3:21: hooks.alertmanager.max_body_bytes: 10: want at least 1024`,
			`testdata/hooks-broken.yaml:4:5: hooks.alertmanager.tokn: unknown field (did you mean "token"?)`,
			`testdata/hooks-broken.yaml:5:3: hooks.grafana: unknown field`,
		}},
		{file: "testdata/hooks-inline.yaml", want: []string{
			`testdata/hooks-inline.yaml:3:12: hooks.alertmanager.token: credentials are never inline: want {env: NAME} or {file: PATH}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, diags := Load(tt.file, LoadOptions{Providers: validators()})
			got := diags.String()
			if got != strings.Join(tt.want, "\n") {
				t.Errorf("diagnostics:\n%s\n\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
			if strings.Contains(got, "s3cr3t") {
				t.Error("a diagnostic repeats an inline secret")
			}
			if len(tt.want) == 0 {
				h := c.Hooks.Alertmanager
				if h == nil || h.Token.File != "/etc/specscale/alertmanager-token" || h.MaxBodyBytes != DefaultMaxBodyBytes {
					t.Errorf("hooks decoded as %+v", h)
				}
			}
		})
	}
}

// The boost example in deploy/examples stays valid.
func TestBoostExampleIsValid(t *testing.T) {
	c, diags := Load("../deploy/examples/boosts.yaml", LoadOptions{Providers: validators()})
	if len(diags) != 0 {
		t.Fatalf("diagnostics:\n%s", diags)
	}
	if len(c.Loaded) != 1 || len(c.Loaded[0].Boosts) != 3 || c.Hooks.Alertmanager == nil {
		t.Fatalf("loaded %d policies, hooks %+v", len(c.Loaded), c.Hooks)
	}
}
