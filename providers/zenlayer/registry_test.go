package zenlayer_test

import (
	"testing"

	"github.com/specscale/specscale/providers/registry"
	"github.com/specscale/specscale/providers/zenlayer"
)

func TestRegistered(t *testing.T) {
	for _, typ := range []string{zenlayer.TypeBMC, zenlayer.TypeVM} {
		e, err := registry.Lookup(registry.Builtin(), typ)
		if err != nil || e.Validate == nil || e.New == nil {
			t.Errorf("%s: entry %+v, err %v", typ, e, err)
		}
	}
}
