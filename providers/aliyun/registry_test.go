package aliyun_test

import (
	"testing"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/aliyun"
	"github.com/specscale/specscale/providers/registry"
)

func TestRegistered(t *testing.T) {
	e, err := registry.Lookup(registry.Builtin(), "aliyun")
	if err != nil {
		t.Fatal(err)
	}
	acct := providers.Account{Name: "ali", Type: aliyun.TypeName, File: "specscale.yaml", Path: "providers[0]",
		Credentials: map[string]providers.SecretRef{aliyun.CredAccessKeyID: {Env: "X"}, aliyun.CredAccessKeySecret: {Env: "Y"}}}
	if err := e.Validate(acct); err == nil || err.Error() != "specscale.yaml: providers[0].region: required, the ECS region ID such as cn-hangzhou" {
		t.Errorf("Validate through the registry: %v", err)
	}
	acct.Region = "cn-beijing"
	if err := e.Validate(acct); err != nil {
		t.Errorf("Validate through the registry: %v", err)
	}
}
