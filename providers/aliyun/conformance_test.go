package aliyun

import (
	"context"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/aliyun/ecsfake"
	"github.com/specscale/specscale/providers/providertest"
	"github.com/specscale/specscale/providers/simcloud"
)

// conformanceFaults is, per class, a documented ECS answer of that class.
func conformanceFaults() map[providers.Class]ecsfake.Fault {
	return map[providers.Class]ecsfake.Fault{
		providers.ClassRetryLater: {HTTPStatus: 400, Code: "Throttling", Message: "Request was denied due to request throttling, please try again after 5 minutes."},
		providers.ClassInProgress: {HTTPStatus: 400, Code: "LastOrderProcessing", Message: "The previous order is still processing, please try again later."},
		providers.ClassCooldown:   {HTTPStatus: 400, Code: "InvalidAction.WithActiveElasticUpgrade", Message: "The operation is not allowed while a temporary bandwidth upgrade is active."},
		providers.ClassQuota:      {HTTPStatus: 400, Code: "InstanceDowngrade.QuotaExceed", Message: "Quota of instance downgrade is exceed."},
		providers.ClassStatus:     {HTTPStatus: 403, Code: "IncorrectInstanceStatus", Message: "The current status of the instance does not support this operation."},
		providers.ClassInvalid:    {HTTPStatus: 400, Code: "InvalidInternetMaxBandwidthOut.ValueNotSupported", Message: "The specified InternetMaxBandwidthOut is beyond the permitted range."},
		providers.ClassNotFound:   {HTTPStatus: 404, Code: "InvalidInstanceId.NotFound", Message: "The specified InstanceId does not exist."},
		providers.ClassAccount:    {HTTPStatus: 400, Code: "Account.Arrearage", Message: "Your account has an outstanding payment."},
	}
}

func TestConformance(t *testing.T) {
	modes := []struct {
		name string
		s    setup
	}{
		{"v3", setup{}},
		{"v2", setup{signature: SignatureV2}},
		{"v3-sts", setup{sts: true}},
		{"v2-sts", setup{signature: SignatureV2, sts: true}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			providertest.Run(t, func(t *testing.T) *providertest.Harness {
				s := m.s
				// The suite's Down follows its Up at once; the 5-minute lock
				// would refuse it, so this fake has none.
				rules := simcloud.DefaultRules()
				rules.Lock = 0
				s.rules = &rules
				e := newEnv(t, s)
				up := target(providers.BandwidthOut, idPrepaidTraffic)
				return &providertest.Harness{
					Provider: e.p,
					Up:       providers.Change{Target: up, Value: 20},
					Down:     &providers.Change{Target: up, Value: 5},
					Missing:  target(providers.BandwidthOut, idMissing),
					Inject: func(c providers.Class) bool {
						f, ok := conformanceFaults()[c]
						if ok {
							e.fake.Inject(f)
						}
						return ok
					},
					Changes: e.fake.Changes,
					Hang:    e.fake.Hang,
					WithTimeout: func(d time.Duration) providers.Provider {
						acct := e.acct
						acct.Timeout = d
						p, err := New(context.Background(), acct, nil)
						if err != nil {
							t.Fatalf("New: %v", err)
						}
						return p
					},
				}
			})
		})
	}
}
