package huawei_test

import (
	"testing"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/huawei"
	"github.com/specscale/specscale/providers/registry"
)

func TestRegistered(t *testing.T) {
	e, err := registry.Lookup(registry.Builtin(), huawei.TypeName)
	if err != nil {
		t.Fatal(err)
	}
	if e.Validate == nil || e.New == nil {
		t.Fatalf("entry %q has no Validate or New", huawei.TypeName)
	}
	acct := providers.Account{Name: "aad", Type: huawei.TypeName, File: "specscale.yaml", Path: "providers[0]",
		Credentials: map[string]providers.SecretRef{huawei.CredToken: {Env: "HUAWEI_TOKEN"}}}
	want := "specscale.yaml: providers[0].options.domain_id: missing: AAD is a global service and needs the account (domain) ID as X-Domain-Id with AK/SK signing; set options.domain_id or credentials.domain_id\n" +
		"specscale.yaml: providers[0].credentials.access_key: missing: auth aksk signs every call with access_key and secret_key\n" +
		"specscale.yaml: providers[0].credentials.secret_key: missing: auth aksk signs every call with access_key and secret_key\n" +
		"specscale.yaml: providers[0].credentials.token: not used with auth aksk; set auth: token to send a token instead"
	if err := e.Validate(acct); err == nil || err.Error() != want {
		t.Errorf("Validate through the registry: %v", err)
	}
}
