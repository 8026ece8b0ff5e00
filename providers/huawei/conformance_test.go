package huawei

import (
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/providertest"
)

func conformanceHarness(t *testing.T, newClient func(f *fakeAAD, t *testing.T, opts ...Option) *Client) *providertest.Harness {
	f := newFakeAAD(t)
	f.put("aad-inst-1", map[providers.Resource]float64{
		providers.AADBasicBandwidth: 10, providers.AADElasticBandwidth: 20, providers.AADServiceBandwidth: 100,
		providers.AADPorts: 50, providers.AADDomains: 50,
	}, fakeInstance{})
	target := providers.Target{Account: fakeAccount, Resource: providers.AADBasicBandwidth, Instance: "aad-inst-1"}
	return &providertest.Harness{
		Provider: newClient(f, t),
		Up:       providers.Change{Target: target, Value: 20},
		Down:     nil, // AAD is upgrade-only
		Missing:  providers.Target{Account: fakeAccount, Resource: providers.AADBasicBandwidth, Instance: "aad-missing"},
		Inject: func(c providers.Class) bool {
			a, ok := documentedAnswers[c]
			if !ok {
				return false
			}
			f.injectNext(a.status, a.body, a.retryAfter)
			return true
		},
		Changes: f.changes,
		Hang:    f.Hang,
		WithTimeout: func(d time.Duration) providers.Provider {
			return newClient(f, t, withTimeout(d))
		},
	}
}

func TestConformanceAKSK(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		return conformanceHarness(t, func(f *fakeAAD, t *testing.T, opts ...Option) *Client { return f.akskClient(t, opts...) })
	})
}

func TestConformanceToken(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		return conformanceHarness(t, func(f *fakeAAD, t *testing.T, opts ...Option) *Client {
			f.token = "MIIZ-fake-iam-token"
			return f.newClient(t, Token(func() (string, error) { return "MIIZ-fake-iam-token", nil }), opts...)
		})
	})
}

// withTimeout sets the client's per-call timeout, as Config.Timeout does.
func withTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }
