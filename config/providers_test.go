package config_test

import (
	"strings"
	"testing"

	"github.com/specscale/specscale/config"
)

// TestProviderProblemsAllReported: each real provider validator finds
// several problems in one account; the loader reports every one of them
// (plain errors joined with positioned ones included), and a problem the
// validator names by path only is placed at that field's line.
func TestProviderProblemsAllReported(t *testing.T) {
	_, diags := config.Load("testdata/broken-providers.yaml", config.LoadOptions{Providers: validators()})
	want := []string{
		`testdata/broken-providers.yaml:4:5: providers[0].region: required, the ECS region ID such as cn-hangzhou`,
		`testdata/broken-providers.yaml:9:26: providers[0].credentials.secret_access_key: unknown credential (want access_key_id, access_key_secret and optionally security_token)`,
		`testdata/broken-providers.yaml:11:18: providers[0].options.signature: want v3 or v2, got "v4"`,
		`testdata/broken-providers.yaml:12:31: providers[0].options.postpaid_bandwidth_api: want ModifyInstanceNetworkSpec or ModifyInstanceSpec, got "Foo"`,
		`testdata/broken-providers.yaml:19:7: providers[1].options.domain_id: missing: AAD is a global service and needs the account (domain) ID as X-Domain-Id with AK/SK signing; set options.domain_id or credentials.domain_id`,
		`testdata/broken-providers.yaml:22:15: providers[2].endpoint: "http://example.com": plain http only towards loopback; use https`,
		`testdata/broken-providers.yaml:24:7: providers[2].credentials.access_key_password: missing (zenlayer_bmc needs access_key_id and access_key_password)`,
		`testdata/broken-providers.yaml:26:20: providers[2].options.api_version: zenlayer_bmc supports 2022-11-20 or 2026-02-01, not "2020-01-01"`,
	}
	if got := diags.String(); got != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\n\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
