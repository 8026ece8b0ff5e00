package config_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/registry"
)

// exampleConfigs are the daemon configs shipped under deploy/examples: the
// quickstart at the top and one specscale.yaml per example directory.
func exampleConfigs(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../deploy/examples/*.yaml", "../deploy/examples/*/specscale.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatalf("glob %s: %v", pattern, err)
		}
		files = append(files, m...)
	}
	if len(files) < 2 {
		t.Fatalf("found %d example configs (%v); the globs no longer match deploy/examples", len(files), files)
	}
	return files
}

// validators are the real provider validators, as `specscale validate`
// uses them.
func validators() map[string]config.ProviderValidator {
	out := map[string]config.ProviderValidator{}
	for name, e := range registry.Builtin() {
		out[name] = e.Validate
	}
	return out
}

// TestExamplesValidate loads every example daemon config and every policy
// file it names, as `specscale validate` does, and fails on any error or
// warning: an example an operator copies must be clean.
func TestExamplesValidate(t *testing.T) {
	for _, file := range exampleConfigs(t) {
		name, err := filepath.Rel("../deploy/examples", file)
		if err != nil {
			name = file
		}
		t.Run(filepath.ToSlash(name), func(t *testing.T) {
			cfg, diags := config.Load(file, config.LoadOptions{Providers: validators()})
			if len(diags) > 0 {
				t.Fatalf("%d diagnostics (errors and warnings):\n%s", len(diags), diags)
			}
			if len(cfg.Loaded) == 0 {
				t.Errorf("no policy loaded")
			}
		})
	}
}

// TestProviderExamplesCoverEverySeedOperation: deploy/examples/providers
// holds a policy for each of the seed operations, on an account of the
// provider type that performs it.
func TestProviderExamplesCoverEverySeedOperation(t *testing.T) {
	type op struct {
		typ      string
		resource providers.Resource
	}
	want := []op{
		{"aliyun", providers.BandwidthOut},            // ModifyInstanceNetworkSpec
		{"aliyun", providers.InstanceType},            // ModifyInstanceSpec
		{"huawei_aad", providers.AADElasticBandwidth}, // UpgradeInstanceSpec
		{"huawei_aad", providers.AADBasicQPS},         // UpgradeInstanceSpec
		{"zenlayer_bmc", providers.BandwidthOut},      // bmc ModifyInstanceBandwidth
		{"zenlayer_vm", providers.InstanceType},       // vm ModifyInstanceType
	}
	cfg, diags := config.Load("../deploy/examples/providers/specscale.yaml", config.LoadOptions{Providers: validators()})
	if diags.HasErrors() {
		t.Fatalf("diagnostics:\n%s", diags)
	}
	var have []op
	for _, p := range cfg.Loaded {
		acct, _ := cfg.Provider(p.Targets.Provider)
		if acct == nil {
			t.Errorf("policy %s: no account %q", p.Name, p.Targets.Provider)
			continue
		}
		have = append(have, op{acct.Type, providers.Resource(p.Targets.Resource)})
	}
	for _, w := range want {
		if !slices.Contains(have, w) {
			t.Errorf("no example policy changes %s on a %s account", w.resource, w.typ)
		}
	}
}
