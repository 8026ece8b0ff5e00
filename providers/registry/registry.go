// Package registry builds provider accounts from the daemon config. Adding a
// provider is one package and one line in Builtin.
package registry

import (
	"context"
	"fmt"
	"sort"

	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/aliyun"
	"github.com/specscale/specscale/providers/huawei"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/providers/zenlayer"
)

// Entry is how to check and build one provider type.
type Entry struct {
	// Validate decodes the account's options strictly and checks them. It
	// reads no secret and makes no call, so `specscale validate` can run
	// anywhere. Errors carry positions (*strictyaml.Error).
	Validate func(acct providers.Account) error
	// New builds the provider. It may resolve secrets and read from the
	// provider; it must not write.
	New func(ctx context.Context, acct providers.Account, log *zap.Logger) (providers.Provider, error)
	// Resources lists what the type can change, so that validate can check
	// a policy's resource without building the provider.
	Resources func() []providers.Resource
}

// Builtin returns every provider type specscale knows, by type name.
func Builtin() map[string]Entry {
	return map[string]Entry{
		simcloud.TypeName: {Validate: simcloud.Validate, New: simcloud.NewProvider, Resources: func() []providers.Resource { return providers.KnownResources }},
		zenlayer.TypeBMC:  {Validate: zenlayer.ValidateBMC, New: zenlayer.NewBMC, Resources: func() []providers.Resource { return zenlayer.Resources(zenlayer.TypeBMC) }},
		zenlayer.TypeVM:   {Validate: zenlayer.ValidateVM, New: zenlayer.NewVM, Resources: func() []providers.Resource { return zenlayer.Resources(zenlayer.TypeVM) }},
		huawei.TypeName:   {Validate: huawei.Validate, New: huawei.NewProvider, Resources: huawei.Resources},
		aliyun.TypeName:   {Validate: aliyun.Validate, New: aliyun.NewProvider, Resources: func() []providers.Resource { return resourcesOf(aliyun.Capabilities()) }},
	}
}

// Types returns the known type names, sorted.
func Types(entries map[string]Entry) []string {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the entry for a type, or an error naming the known ones.
func Lookup(entries map[string]Entry, typ string) (Entry, error) {
	e, ok := entries[typ]
	if !ok {
		return Entry{}, fmt.Errorf("unknown provider type %q (known: %v)", typ, Types(entries))
	}
	return e, nil
}

func resourcesOf(c providers.Capabilities) []providers.Resource {
	out := make([]providers.Resource, 0, len(c.Resources))
	for r := range c.Resources {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
