package zenlayer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func bw(id string) providers.Target {
	return providers.Target{Account: "fake", Resource: providers.BandwidthOut, Instance: id}
}

func typ(id string) providers.Target {
	return providers.Target{Account: "fake", Resource: providers.InstanceType, Instance: id}
}

func current(t *testing.T, p *Provider, target providers.Target) providers.Spec {
	t.Helper()
	spec, err := p.Current(ctxT(t), target)
	if err != nil {
		t.Fatalf("Current(%s): %v", target, err)
	}
	return spec
}

func apply(t *testing.T, p *Provider, c providers.Change) providers.Result {
	t.Helper()
	res, err := p.Apply(ctxT(t), c)
	if err != nil {
		t.Fatalf("Apply(%s → %v %q): %v", c.Target, c.Value, c.Name, err)
	}
	return res
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name string
		svc  service
		want map[providers.Resource]providers.ResourceCaps
	}{
		{"bmc", serviceBMC, map[providers.Resource]providers.ResourceCaps{
			providers.BandwidthOut: {Unit: "Mbit/s", Min: 1, Max: 10000, Integer: true, Async: true,
				Downgrade: providers.DowngradeRule{NextCycle: true}, RequiredStatus: []string{"RUNNING"}},
		}},
		{"vm", serviceVM, map[providers.Resource]providers.ResourceCaps{
			providers.BandwidthOut: {Unit: "Mbit/s", Min: 1, Max: 10000, Integer: true, Async: true,
				Downgrade: providers.DowngradeRule{NextCycle: true}, RequiredStatus: []string{"RUNNING"}},
			providers.InstanceType: {Unit: "instance type", Named: true, Async: true,
				Downgrade: providers.DowngradeRule{NextCycle: true}, RequiredStatus: []string{"RUNNING", "STOPPED"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps := capabilities(tt.svc, Options{MaxBandwidthMbps: DefaultMaxBandwidthMbps})
			if caps.Type != tt.svc.typeName || len(caps.Resources) != len(tt.want) {
				t.Fatalf("caps = %+v", caps)
			}
			for r, want := range tt.want {
				got := caps.Resources[r]
				if got.Unit != want.Unit || got.Min != want.Min || got.Max != want.Max || got.Integer != want.Integer ||
					got.Named != want.Named || got.Async != want.Async || got.Downgrade != want.Downgrade ||
					!slices.Equal(got.RequiredStatus, want.RequiredStatus) || got.Temporary != nil || got.ChangeLock != 0 {
					t.Errorf("%s: got %+v, want %+v", r, got, want)
				}
			}
		})
	}
}

// The request each call puts on the wire, byte for byte.
func TestWireBodies(t *testing.T) {
	tests := []struct {
		name   string
		svc    service
		change providers.Change
		want   map[string]string // action → body
	}{
		{"bmc bandwidth", serviceBMC, providers.Change{Target: bw("i-1"), Value: 200}, map[string]string{
			actionDescribeInstances:      `{"instanceIds":["i-1"]}`,
			actionDescribeInternetStatus: `{"instanceId":"i-1"}`,
			actionModifyBandwidth:        `{"bandwidthOutMbps":200,"instanceId":"i-1"}`,
		}},
		{"vm bandwidth", serviceVM, providers.Change{Target: bw("i-1"), Value: 200}, map[string]string{
			actionDescribeInstances:      `{"instanceIds":["i-1"]}`,
			actionDescribeInternetStatus: `{"instanceId":"i-1"}`,
			actionModifyBandwidth:        `{"instanceId":"i-1","internetMaxBandwidthOut":200}`,
		}},
		{"vm type", serviceVM, providers.Change{Target: typ("i-1"), Value: 2, Name: "c.2c4g"}, map[string]string{
			actionDescribeInstances:  `{"instanceIds":["i-1"]}`,
			actionDescribeTypeStatus: `{"instanceId":"i-1"}`,
			actionModifyType:         `{"instanceId":"i-1","instanceTypeId":"c.2c4g"}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.svc, fakeRules(0))
			if tt.svc.path == "bmc" {
				f.addBMC("i-1", 100, false)
			} else {
				f.addVM("i-1", "c.1c2g", 100, false)
			}
			p := newTestProvider(t, f, fakePassword, zap.NewNop())
			apply(t, p, tt.change)
			for action, want := range tt.want {
				req, ok := f.lastRequest(action)
				if !ok {
					t.Errorf("%s was not called (calls: %v)", action, f.actions())
					continue
				}
				if req.Body != want {
					t.Errorf("%s body = %s, want %s", action, req.Body, want)
				}
				for h, v := range map[string]string{
					"Content-Type": contentType, "X-ZC-Action": action, "X-ZC-Version": tt.svc.versions[0],
					"X-ZC-Service": tt.svc.path, "X-ZC-Signature-Method": "ZC2-HMAC-SHA256",
				} {
					if got := req.Headers.Get(h); got != v {
						t.Errorf("%s header %s = %q, want %q", action, h, got, v)
					}
				}
			}
		})
	}
}

func TestVMTypeAsync(t *testing.T) {
	f := newFake(t, serviceVM, fakeRules(10*time.Minute))
	f.addVM("vm-1", "c.1c2g", 10, false)
	p := newTestProvider(t, f, fakePassword, zap.NewNop())

	res := apply(t, p, providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g", Token: "t1"})
	if res.Outcome != providers.Processing || res.OrderID == "" || res.RequestID == "" {
		t.Errorf("Apply = %+v, want processing with an order and a request ID", res)
	}
	spec := current(t, p, typ("vm-1"))
	want := providers.Pending{Name: "c.2c4g", State: providers.Processing}
	if spec.Name != "c.1c2g" || spec.Pending == nil || *spec.Pending != want || !spec.Ready || spec.Prepaid {
		t.Errorf("while processing: %+v pending %+v", spec, spec.Pending)
	}
	// The same intent again, under a new token, while processing: no write.
	again := apply(t, p, providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g", Token: "t2"})
	if again.Outcome != providers.Processing || f.changes() != 1 {
		t.Errorf("second Apply = %+v, changes %d; want processing and 1 change", again, f.changes())
	}
	// Another type while one is processing: the API refuses, in progress.
	_, err := p.Apply(ctxT(t), providers.Change{Target: typ("vm-1"), Value: 4, Name: "c.4c8g", Token: "t3"})
	if !errors.Is(err, providers.ErrInProgress) || !isCode(err, CodePlanProcessing) {
		t.Errorf("Apply during processing: %v, want %s (in progress)", err, CodePlanProcessing)
	}

	f.advance(10 * time.Minute)
	spec = current(t, p, typ("vm-1"))
	if spec.Name != "c.2c4g" || spec.Pending != nil {
		t.Errorf("after the change: %+v pending %+v", spec, spec.Pending)
	}
	done := apply(t, p, providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g", Token: "t4"})
	if done.Outcome != providers.Applied || f.changes() != 1 {
		t.Errorf("Apply of the type in place = %+v, changes %d; want applied, 1 change", done, f.changes())
	}
}

func TestVMTypePrepaidDowngradeWaitsForNextCycle(t *testing.T) {
	f := newFake(t, serviceVM, fakeRules(10*time.Minute))
	f.addVM("vm-1", "c.4c8g", 10, true)
	p := newTestProvider(t, f, fakePassword, zap.NewNop())
	cycleEnd := fakeStart.Add(30 * 24 * time.Hour)

	res := apply(t, p, providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g", Token: "down"})
	if res.Outcome != providers.NextCycle || !res.EffectiveAt.Equal(cycleEnd) {
		t.Errorf("Apply = %+v, want next_cycle effective %s", res, cycleEnd)
	}
	spec := current(t, p, typ("vm-1"))
	want := providers.Pending{Name: "c.2c4g", State: providers.NextCycle, EffectiveAt: cycleEnd}
	if spec.Name != "c.4c8g" || spec.Pending == nil || *spec.Pending != want || !spec.Prepaid || !spec.CycleEnd.Equal(cycleEnd) {
		t.Errorf("scheduled: %+v pending %+v", spec, spec.Pending)
	}
	if again := apply(t, p, providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g", Token: "down-again"}); again.Outcome != providers.NextCycle {
		t.Errorf("same downgrade again = %+v, want next_cycle without a write", again)
	}
	// A different change while one is scheduled: EXIST_PLAN, a quota class.
	_, err := p.Apply(ctxT(t), providers.Change{Target: typ("vm-1"), Value: 1, Name: "c.1c2g", Token: "other"})
	if !errors.Is(err, providers.ErrQuota) || !isCode(err, CodeExistPlan) {
		t.Errorf("Apply with a scheduled change: %v, want %s (quota)", err, CodeExistPlan)
	}
	if f.changes() != 1 {
		t.Errorf("changes = %d, want 1", f.changes())
	}
	f.advance(31 * 24 * time.Hour)
	if spec := current(t, p, typ("vm-1")); spec.Name != "c.2c4g" || spec.Pending != nil {
		t.Errorf("after the cycle: %+v pending %+v", spec, spec.Pending)
	}
}

func TestBandwidthPrepaid(t *testing.T) {
	for _, svc := range []service{serviceBMC, serviceVM} {
		t.Run(svc.path, func(t *testing.T) {
			f := newFake(t, svc, fakeRules(0))
			if svc.path == "bmc" {
				f.addBMC("i-1", 500, true)
			} else {
				f.addVM("i-1", "c.1c2g", 500, true)
			}
			p := newTestProvider(t, f, fakePassword, zap.NewNop())
			cycleEnd := fakeStart.Add(30 * 24 * time.Hour)

			// An upgrade is charged and applies at once.
			if res := apply(t, p, providers.Change{Target: bw("i-1"), Value: 800, Token: "up"}); res.Outcome != providers.Applied {
				t.Errorf("prepaid upgrade = %+v, want applied", res)
			}
			// A downgrade is an order for the next billing cycle.
			res := apply(t, p, providers.Change{Target: bw("i-1"), Value: 200, Token: "down"})
			if res.Outcome != providers.NextCycle || !res.EffectiveAt.Equal(cycleEnd) {
				t.Errorf("prepaid downgrade = %+v, want next_cycle at %s", res, cycleEnd)
			}
			spec := current(t, p, bw("i-1"))
			want := providers.Pending{Value: 200, State: providers.NextCycle, EffectiveAt: cycleEnd}
			if spec.Value != 800 || spec.Pending == nil || *spec.Pending != want || !spec.Prepaid || !spec.Ready ||
				spec.Min != 1 || spec.Max != DefaultMaxBandwidthMbps {
				t.Errorf("scheduled: %+v pending %+v", spec, spec.Pending)
			}
			if f.changes() != 2 {
				t.Errorf("changes = %d, want 2", f.changes())
			}
			f.advance(31 * 24 * time.Hour)
			if spec := current(t, p, bw("i-1")); spec.Value != 200 || spec.Pending != nil {
				t.Errorf("after the cycle: %+v pending %+v", spec, spec.Pending)
			}
		})
	}
}

// Bare metal reports bandwidthOutMbps 0 for "no limit below the model cap";
// the adapter reads it as max_bandwidth_mbps.
func TestBMCUnlimitedBandwidth(t *testing.T) {
	f := newFake(t, serviceBMC, fakeRules(0))
	f.addBMC("bmc-1", 0, false)
	p := newTestProvider(t, f, fakePassword, zap.NewNop())
	spec := current(t, p, bw("bmc-1"))
	if spec.Value != DefaultMaxBandwidthMbps || spec.Max != DefaultMaxBandwidthMbps || spec.Pending != nil {
		t.Errorf("unlimited: %+v, want value and max %d", spec, DefaultMaxBandwidthMbps)
	}
	// Setting a limit is a write of the number asked for.
	apply(t, p, providers.Change{Target: bw("bmc-1"), Value: 300})
	if spec := current(t, p, bw("bmc-1")); spec.Value != 300 {
		t.Errorf("after setting 300: %+v", spec)
	}
}

func TestStatus(t *testing.T) {
	f := newFake(t, serviceVM, fakeRules(0))
	f.addVM("vm-1", "c.1c2g", 10, false)
	f.setStatus("vm-1", "STOPPED")
	p := newTestProvider(t, f, fakePassword, zap.NewNop())

	if spec := current(t, p, bw("vm-1")); spec.Ready || spec.Status != "STOPPED" {
		t.Errorf("bandwidth of a stopped VM: %+v, want not ready", spec)
	}
	if spec := current(t, p, typ("vm-1")); !spec.Ready {
		t.Errorf("type of a stopped VM: %+v, want ready", spec)
	}
	_, err := p.Apply(ctxT(t), providers.Change{Target: bw("vm-1"), Value: 20})
	if !errors.Is(err, providers.ErrStatus) || !isCode(err, CodeNotRunning) {
		t.Errorf("bandwidth of a stopped VM: %v, want %s (status)", err, CodeNotRunning)
	}
	if res := apply(t, p, providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g"}); res.Outcome != providers.Applied {
		t.Errorf("type of a stopped VM = %+v, want applied", res)
	}
	f.setStatus("vm-1", "REBUILDING")
	if spec := current(t, p, typ("vm-1")); spec.Ready {
		t.Errorf("type of a rebuilding VM: %+v, want not ready", spec)
	}
	_, err = p.Apply(ctxT(t), providers.Change{Target: typ("vm-1"), Value: 4, Name: "c.4c8g"})
	if !errors.Is(err, providers.ErrStatus) || !isCode(err, CodeUnsupportedStatus) {
		t.Errorf("type of a rebuilding VM: %v, want %s (status)", err, CodeUnsupportedStatus)
	}
}

// Refusals the adapter makes itself, before any call.
func TestRefusedBeforeAnyCall(t *testing.T) {
	window := &providers.Window{Start: fakeStart, End: fakeStart.Add(4 * time.Hour)}
	tests := []struct {
		name   string
		svc    service
		change providers.Change
	}{
		{"bmc has no instance type", serviceBMC, providers.Change{Target: typ("i-1"), Name: "c.2c4g"}},
		{"unknown resource", serviceVM, providers.Change{Target: providers.Target{Account: "fake", Resource: providers.BandwidthIn, Instance: "i-1"}, Value: 10}},
		{"temporary", serviceVM, providers.Change{Target: bw("i-1"), Value: 20, Temporary: window}},
		{"fraction", serviceVM, providers.Change{Target: bw("i-1"), Value: 20.5}},
		{"zero", serviceBMC, providers.Change{Target: bw("i-1"), Value: 0}},
		{"above max", serviceBMC, providers.Change{Target: bw("i-1"), Value: 10001}},
		{"bandwidth with a name", serviceVM, providers.Change{Target: bw("i-1"), Value: 20, Name: "x"}},
		{"type without a name", serviceVM, providers.Change{Target: typ("i-1"), Value: 2}},
		{"bad instance id", serviceVM, providers.Change{Target: bw("i/1"), Value: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.svc, fakeRules(0))
			p := newTestProvider(t, f, fakePassword, zap.NewNop())
			_, err := p.Apply(ctxT(t), tt.change)
			if !errors.Is(err, providers.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if calls := f.actions(); len(calls) != 0 {
				t.Errorf("refused change made calls %v", calls)
			}
		})
	}
}

func TestTokenReusedForAnotherChange(t *testing.T) {
	f := newFake(t, serviceBMC, fakeRules(0))
	f.addBMC("bmc-1", 100, false)
	p := newTestProvider(t, f, fakePassword, zap.NewNop())
	first := apply(t, p, providers.Change{Target: bw("bmc-1"), Value: 200, Token: "tok"})
	calls := len(f.actions())
	_, err := p.Apply(ctxT(t), providers.Change{Target: bw("bmc-1"), Value: 300, Token: "tok"})
	if !errors.Is(err, providers.ErrInvalid) {
		t.Errorf("token reused for another value: %v, want ErrInvalid", err)
	}
	same := apply(t, p, providers.Change{Target: bw("bmc-1"), Value: 200, Token: "tok"})
	if same != first {
		t.Errorf("same token again = %+v, want the first result %+v", same, first)
	}
	if got := len(f.actions()); got != calls || f.changes() != 1 {
		t.Errorf("calls %d → %d, changes %d; want no new call and 1 change", calls, got, f.changes())
	}
}

// INVALID_INSTANCE_TYPE_NOT_CHANGED after our read showed another type:
// someone got there first. A fresh read decides.
func TestTypeNotChanged(t *testing.T) {
	t.Run("the type is now the target", func(t *testing.T) {
		f := newFake(t, serviceVM, fakeRules(0))
		f.addVM("vm-1", "c.1c2g", 10, false)
		p := newTestProvider(t, f, fakePassword, zap.NewNop())
		f.mu.Lock()
		f.beforeNext = func(f *fakeZenlayer) { f.addVM("vm-1", "c.2c4g", 10, false) }
		f.mu.Unlock()
		res := apply(t, p, providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g"})
		if res.Outcome != providers.Applied {
			t.Errorf("Apply = %+v, want applied", res)
		}
		if f.changes() != 0 {
			t.Errorf("changes = %d, want 0 (someone else changed it)", f.changes())
		}
	})
	t.Run("the type is still another", func(t *testing.T) {
		f := newFake(t, serviceVM, fakeRules(0))
		f.addVM("vm-1", "c.1c2g", 10, false)
		p := newTestProvider(t, f, fakePassword, zap.NewNop())
		f.injectNext(fakeAnswer{403, CodeTypeNotChanged, "Instance model does not changed.", ""})
		_, err := p.Apply(ctxT(t), providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g"})
		if !errors.Is(err, providers.ErrInvalid) || !isCode(err, CodeTypeNotChanged) {
			t.Errorf("err = %v, want %s (invalid)", err, CodeTypeNotChanged)
		}
	})
}

func TestTypeRefusals(t *testing.T) {
	tests := []struct {
		name  string
		to    string
		class error
		code  string
	}{
		{"unknown model", "x.1c1g", providers.ErrNotFound, CodeProductNotFound},
		{"other series", "s.2c4g", providers.ErrInvalid, CodeTypeUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, serviceVM, fakeRules(0))
			f.addVM("vm-1", "c.1c2g", 10, false)
			p := newTestProvider(t, f, fakePassword, zap.NewNop())
			_, err := p.Apply(ctxT(t), providers.Change{Target: typ("vm-1"), Value: 2, Name: tt.to})
			if !errors.Is(err, tt.class) || !isCode(err, tt.code) {
				t.Errorf("err = %v, want %s", err, tt.code)
			}
		})
	}
	t.Run("across c, g and m", func(t *testing.T) {
		f := newFake(t, serviceVM, fakeRules(0))
		f.addVM("vm-1", "c.4c8g", 10, false)
		p := newTestProvider(t, f, fakePassword, zap.NewNop())
		apply(t, p, providers.Change{Target: typ("vm-1"), Value: 4, Name: "g.4c16g"})
	})
}

func TestAPIVersionOption(t *testing.T) {
	f := newFake(t, serviceVM, fakeRules(0))
	f.version = "2026-04-01"
	f.addVM("vm-1", "c.1c2g", 10, false)
	acct := f.account(t, fakePassword)
	acct.Options = yamlNode(t, "api_version: \"2026-04-01\"\n")
	p, err := NewVM(context.Background(), acct, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Current(ctxT(t), bw("vm-1")); err != nil {
		t.Errorf("Current with api_version 2026-04-01: %v", err)
	}
}

func TestNewResolvesSecrets(t *testing.T) {
	f := newFake(t, serviceBMC, fakeRules(0))
	acct := f.account(t, fakePassword)
	acct.Credentials[CredAccessKeyPassword] = providers.SecretRef{Env: "SPECSCALE_TEST_UNSET_ZENLAYER_PASSWORD"}
	_, err := NewBMC(context.Background(), acct, zap.NewNop())
	if err == nil || err.Error() != `provider "fake": credentials.access_key_password: environment variable SPECSCALE_TEST_UNSET_ZENLAYER_PASSWORD is not set` {
		t.Errorf("err = %v", err)
	}
}

// Two deliveries of one intent at once write once.
func TestConcurrentApplySameIntent(t *testing.T) {
	f := newFake(t, serviceBMC, fakeRules(0))
	f.addBMC("bmc-1", 100, false)
	p := newTestProvider(t, f, fakePassword, zap.NewNop())
	const n = 8
	results := make(chan providers.Result, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			res, err := p.Apply(context.Background(), providers.Change{Target: bw("bmc-1"), Value: 200, Token: "same"})
			results <- res
			errs <- err
		}()
	}
	var first providers.Result
	for i := range n {
		if err := <-errs; err != nil {
			t.Errorf("Apply: %v", err)
		}
		res := <-results
		if i == 0 {
			first = res
		} else if res != first {
			t.Errorf("results differ: %+v and %+v", first, res)
		}
	}
	if f.changes() != 1 {
		t.Errorf("changes = %d, want 1", f.changes())
	}
}
