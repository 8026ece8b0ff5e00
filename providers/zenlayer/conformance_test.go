package zenlayer

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/providertest"
)

// newTestProvider builds the adapter against f with the given password
// (fakePassword signs correctly).
func newTestProvider(t testing.TB, f *fakeZenlayer, password string, log *zap.Logger) *Provider {
	t.Helper()
	p, err := newProvider(f.account(t, password), f.svc, log)
	if err != nil {
		t.Fatalf("newProvider: %v", err)
	}
	return p
}

// inject maps a class to a documented refusal of the write the harness
// makes, or reports that the API documents none.
func inject(f *fakeZenlayer, r providers.Resource) func(providers.Class) bool {
	typ := r == providers.InstanceType
	return func(c providers.Class) bool {
		var a fakeAnswer
		switch c {
		case providers.ClassRetryLater:
			a = fakeAnswer{429, CodeRequestLimitExceeded, "Request limit exceeded.", ""}
		case providers.ClassInProgress:
			a = fakeAnswer{403, CodeBandwidthProcessing, "Bandwidth is being modified.", ""}
			if typ {
				a = fakeAnswer{403, CodePlanProcessing, "A processing change exists.", ""}
			}
		case providers.ClassStatus:
			a = fakeAnswer{403, CodeNotRunning, "Only operations on instances in RUNNING status are supported.", ""}
			if typ {
				a = fakeAnswer{400, CodeUnsupportedStatus, "Only operations on instances in RUNNING or STOPPED status are supported.", ""}
			}
		case providers.ClassInvalid:
			a = fakeAnswer{400, CodeBandwidthExceed, "Bandwidth exceeds upper limit.", ""}
			if typ {
				a = fakeAnswer{400, CodeTypeUnsupported, "Unsupported model for the current instance.", ""}
			}
		case providers.ClassNotFound:
			a = fakeAnswer{404, CodeInstanceNotFound, "Instance does not exist.", ""}
		case providers.ClassAccount:
			a = fakeAnswer{401, CodeSignatureFailure, "The provided credentials could not be validated.", ""}
		case providers.ClassQuota:
			if !typ {
				return false // no bandwidth code for a scheduled change is documented
			}
			a = fakeAnswer{403, CodeExistPlan, "A scheduling change exists.", ""}
		default:
			return false // Zenlayer documents no cooldown after a change
		}
		f.injectNext(a)
		return true
	}
}

func TestConformanceBMCBandwidth(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		f := newFake(t, serviceBMC, fakeRules(0))
		f.addBMC("bmc-1", 100, false)
		p := newTestProvider(t, f, fakePassword, zap.NewNop())
		target := providers.Target{Account: "fake", Resource: providers.BandwidthOut, Instance: "bmc-1"}
		return &providertest.Harness{
			Provider: p,
			Up:       providers.Change{Target: target, Value: 200},
			Down:     &providers.Change{Target: target, Value: 50},
			Missing:  providers.Target{Account: "fake", Resource: providers.BandwidthOut, Instance: "bmc-missing"},
			Inject:   inject(f, providers.BandwidthOut),
			Changes:  f.changes,
			Hang:     f.Hang,
			WithTimeout: func(d time.Duration) providers.Provider {
				return withTimeout(t, f, d)
			},
		}
	})
}

func TestConformanceVMBandwidth(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		// Bandwidth changes go through "Processing" on this fake.
		f := newFake(t, serviceVM, fakeRules(3*time.Second))
		f.tick = time.Second
		f.addVM("vm-1", "c.1c2g", 10, false)
		p := newTestProvider(t, f, fakePassword, zap.NewNop())
		target := providers.Target{Account: "fake", Resource: providers.BandwidthOut, Instance: "vm-1"}
		return &providertest.Harness{
			Provider: p,
			Up:       providers.Change{Target: target, Value: 50},
			Down:     &providers.Change{Target: target, Value: 5},
			Missing:  providers.Target{Account: "fake", Resource: providers.BandwidthOut, Instance: "vm-missing"},
			Inject:   inject(f, providers.BandwidthOut),
			Changes:  f.changes,
			Hang:     f.Hang,
			WithTimeout: func(d time.Duration) providers.Provider {
				return withTimeout(t, f, d)
			},
		}
	})
}

func TestConformanceVMType(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		// Each request moves the fake's clock a second and a type change
		// takes three, so a change is seen "Processing" and then done.
		f := newFake(t, serviceVM, fakeRules(3*time.Second))
		f.tick = time.Second
		f.addVM("vm-1", "c.1c2g", 10, false)
		p := newTestProvider(t, f, fakePassword, zap.NewNop())
		target := providers.Target{Account: "fake", Resource: providers.InstanceType, Instance: "vm-1"}
		return &providertest.Harness{
			Provider: p,
			Up:       providers.Change{Target: target, Value: 2, Name: "c.2c4g"},
			Down:     &providers.Change{Target: target, Value: 1, Name: "c.1c2g"},
			Missing:  providers.Target{Account: "fake", Resource: providers.InstanceType, Instance: "vm-missing"},
			Inject:   inject(f, providers.InstanceType),
			Changes:  f.changes,
			Hang:     f.Hang,
			WithTimeout: func(d time.Duration) providers.Provider {
				return withTimeout(t, f, d)
			},
		}
	})
}

// withTimeout builds the adapter against f with the account timeout d.
func withTimeout(t *testing.T, f *fakeZenlayer, d time.Duration) providers.Provider {
	t.Helper()
	acct := f.account(t, fakePassword)
	acct.Timeout = d
	p, err := newProvider(acct, f.svc, zap.NewNop())
	if err != nil {
		t.Fatalf("newProvider: %v", err)
	}
	return p
}
