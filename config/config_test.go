package config

import (
	"strings"
	"testing"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
)

func validators() map[string]ProviderValidator {
	return map[string]ProviderValidator{simcloud.TypeName: simcloud.Validate}
}

func TestLoadGood(t *testing.T) {
	c, diags := Load("testdata/good.yaml", LoadOptions{Providers: validators(), DataDir: "/tmp/x"})
	if len(diags) != 0 {
		t.Fatalf("diagnostics:\n%s", diags)
	}
	if c.NATS.Embedded.DataDir != "/tmp/x" || c.NATS.Embedded.SyncInterval != "always" {
		t.Errorf("embedded defaults: %+v", c.NATS.Embedded)
	}
	if len(c.Loaded) != 1 || c.Loaded[0].Name != "web" {
		t.Fatalf("policies: %v", c.Loaded)
	}
	if c.Sources[0].HTTPConfig.BasicAuth.PasswordFile != "/etc/specscale/prom-password" {
		t.Errorf("http_config not decoded: %+v", c.Sources[0].HTTPConfig.BasicAuth)
	}
	if c.Providers[0].WriteRate != 5 || c.Providers[0].Timeout != DefaultProviderTimeout {
		t.Errorf("provider: %+v", c.Providers[0])
	}
	if c.Fleet.LeaseTTL != DefaultLeaseTTL || c.Fleet.ShutdownGrace != DefaultShutdownGrace {
		t.Errorf("fleet defaults: %+v", c.Fleet)
	}
	acct := c.Account(0)
	if acct.Options == nil || acct.Path != "providers[0]" {
		t.Errorf("account: %+v", acct)
	}
}

func TestLoadBrokenReportsEverything(t *testing.T) {
	_, diags := Load("testdata/broken.yaml", LoadOptions{Providers: validators()})
	want := []string{
		`testdata/broken-policies/p.yaml:3:25: policies[0].targets.provider: no provider account "nope" in testdata/broken.yaml (have: Sim, ali)`,
		`testdata/broken-policies/p.yaml:3:41: policies[0].targets.resource: unknown resource "bandwidth_sideways"`,
		`testdata/broken-policies/p.yaml:3:73: policies[0].targets.instances[0]: "web.1": want letters, digits, '-' and '_'`,
		`testdata/broken-policies/p.yaml:4:22: policies[0].metric.source: no metric source "pushed" in testdata/broken.yaml`,
		`testdata/broken.yaml:2:29: nats.embedded.sync_interval: "sometimes": want always or a duration such as 2m`,
		`testdata/broken.yaml:3:3: nats.replica: unknown field (did you mean "replicas"?)`,
		`testdata/broken.yaml:4:14: log.level: "loud": want debug, info, warn or error`,
		`testdata/broken.yaml:6:5: sources[0].url: required for a prometheus source`,
		`testdata/broken.yaml:9:43: sources[0].http_config.basic_auth.password: inline secret: use basic_auth.password_file`,
		`testdata/broken.yaml:10:11: sources[1].name: source "prom" is already defined at sources[0]`,
		`testdata/broken.yaml:11:11: sources[1].type: "graphite": want prometheus or nats`,
		`testdata/broken.yaml:13:11: providers[0].name: "Sim": want lower-case letters, digits and '-'`,
		`testdata/broken.yaml:16:22: providers[0].credentials.access_key_id: credentials are never inline: want {env: NAME} or {file: PATH}`,
		`testdata/broken.yaml:18:7: providers[0].options.lok: unknown field (did you mean "lock"?)`,
		`testdata/broken.yaml:20:11: providers[1].type: unknown provider type "aliyun" (known: simulated)`,
		`testdata/broken.yaml:23:5: policies[1]: "missing/*.yaml" matches no file`,
		`testdata/broken.yaml:24:20: fleet.lease_ttl: 500ms: want at least 2s`,
		`testdata/broken.yaml:24:43: fleet.shutdown_grace: 100ms: want at least 1s`,
	}
	got := diags.String()
	if got != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\n\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if strings.Contains(got, "AKIAINLINE") || strings.Contains(got, "hunter2") {
		t.Error("a diagnostic repeats an inline secret")
	}
}

var _ = providers.BandwidthOut
