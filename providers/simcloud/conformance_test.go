package simcloud

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/providertest"
)

func newTestCloud(t *testing.T) *Cloud {
	t.Helper()
	c, err := New(DefaultRules(), WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Put(Instance{ID: "i-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func harness(t *testing.T, c *Cloud, p providers.Provider) *providertest.Harness {
	target := providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "i-1"}
	return &providertest.Harness{
		Provider: p,
		Up:       providers.Change{Target: target, Value: 20},
		// The lock after the upgrade would refuse an immediate downgrade;
		// the suite's Down follows Up, so give the cloud no lock here.
		Down:    &providers.Change{Target: target, Value: 5},
		Missing: providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "i-missing"},
		Inject: func(class providers.Class) bool {
			code, ok := CodeFor(class)
			if !ok {
				return false
			}
			c.SetFaults(Faults{FailRate: 1, Codes: []string{code}})
			return true
		},
		Changes: func() int { return len(c.Ledger()) },
		Hang:    c.Hang,
	}
}

func TestConformanceLocal(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		c := newTestCloud(t)
		c.rules.Lock = 0
		return harness(t, c, &Local{Cloud: c})
	})
}

func TestConformanceHTTP(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		c := newTestCloud(t)
		c.rules.Lock = 0
		srv := httptest.NewServer(NewServer(c))
		t.Cleanup(srv.Close)
		client, err := NewClient(context.Background(), srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := harness(t, c, client)
		// NewProvider gives the client the account's timeout this way.
		h.WithTimeout = func(d time.Duration) providers.Provider {
			p, err := NewClient(context.Background(), srv.URL, &http.Client{Timeout: d})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		return h
	})
}
