package huawei

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/specscale/specscale/providers"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func target(r providers.Resource, id string) providers.Target {
	return providers.Target{Account: fakeAccount, Resource: r, Instance: id}
}

// allValues is an instance with every resource set.
func allValues() map[providers.Resource]float64 {
	return map[providers.Resource]float64{
		providers.AADBasicBandwidth: 10, providers.AADElasticBandwidth: 20, providers.AADServiceBandwidth: 100,
		providers.AADElasticServiceBandwidth: 50, providers.AADBasicQPS: 1000, providers.AADPorts: 50, providers.AADDomains: 50,
	}
}

// TestApplySendsTheDocumentedBody upgrades each resource and checks the
// exact upgrade_data the API received (strings for the Gbit/s bandwidths,
// integers for the rest) and that Current then shows the value.
func TestApplySendsTheDocumentedBody(t *testing.T) {
	tests := []struct {
		name     string
		resource providers.Resource
		inst     fakeInstance
		values   map[providers.Resource]float64
		to       float64
		want     map[string]any
	}{
		{"basic bandwidth as a string", providers.AADBasicBandwidth, fakeInstance{}, nil, 20, map[string]any{"basic_bandwidth": "20"}},
		{"elastic bandwidth as a string", providers.AADElasticBandwidth, fakeInstance{}, nil, 60, map[string]any{"elastic_bandwidth": "60"}},
		{"service bandwidth as an integer", providers.AADServiceBandwidth, fakeInstance{}, nil, 200, map[string]any{"service_bandwidth": json.Number("200")}},
		{"ports", providers.AADPorts, fakeInstance{}, nil, 60, map[string]any{"port_num": json.Number("60")}},
		{"domains", providers.AADDomains, fakeInstance{}, nil, 70, map[string]any{"bind_domain_num": json.Number("70")}},
		{"QPS where reported", providers.AADBasicQPS, fakeInstance{reportQPS: true}, nil, 3000, map[string]any{"basic_qps": json.Number("3000")}},
		{"elastic service bandwidth already on", providers.AADElasticServiceBandwidth, fakeInstance{esbType: 3}, nil, 100,
			map[string]any{"elastic_service_bandwidth": json.Number("100")}},
		{"enabling elastic service bandwidth sets type 3", providers.AADElasticServiceBandwidth, fakeInstance{esbType: 0},
			map[providers.Resource]float64{providers.AADBasicBandwidth: 10}, 100,
			map[string]any{"elastic_service_bandwidth": json.Number("100"), "elastic_service_bandwidth_type": json.Number("3")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAAD(t)
			values := tt.values
			if values == nil {
				values = allValues()
			}
			f.put("i-1", values, tt.inst)
			c := f.akskClient(t)
			res, err := c.Apply(ctxT(t), providers.Change{Target: target(tt.resource, "i-1"), Value: tt.to, Token: "tok-" + tt.name})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if res.Outcome != providers.Applied || res.OrderID == "" || res.RequestID == "" {
				t.Errorf("result = %+v, want applied with an order and request ID", res)
			}
			if got := f.lastPut(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("upgrade_data = %#v, want %#v", got, tt.want)
			}
			spec, err := c.Current(ctxT(t), target(tt.resource, "i-1"))
			if err != nil {
				t.Fatalf("Current: %v", err)
			}
			if spec.Value != tt.to || !spec.Ready || spec.Status != StatusNormal || spec.Min != tt.to {
				t.Errorf("spec = %+v, want value %v, ready, normal, min = value", spec, tt.to)
			}
		})
	}
}

func TestApplyRefusesBeforeWriting(t *testing.T) {
	disabled := false
	tests := []struct {
		name      string
		inst      fakeInstance
		change    providers.Change
		wantClass providers.Class
		wantMsg   string
		wantGets  int
	}{
		{
			name:      "downgrade",
			change:    providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 5},
			wantClass: providers.ClassInvalid, wantGets: 1,
			wantMsg: "AAD is upgrade-only: aad_basic_bandwidth of instance i-1 is 10 Gbit/s and the upgrade API cannot lower it to 5",
		},
		{
			name:      "disabling elastic service bandwidth",
			inst:      fakeInstance{esbType: 3},
			change:    providers.Change{Target: target(providers.AADElasticServiceBandwidth, "i-1"), Value: 0},
			wantClass: providers.ClassInvalid, wantGets: 1,
			wantMsg: "AAD is upgrade-only: aad_elastic_service_bandwidth of instance i-1 is 50 Mbit/s and the upgrade API cannot lower it to 0",
		},
		{
			name:      "frozen instance",
			inst:      fakeInstance{freezeType: []int{1}},
			change:    providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20},
			wantClass: providers.ClassAccount, wantGets: 1,
			wantMsg: "instance i-1 is frozen (freeze_type [1]) and cannot be upgraded until it is unfrozen",
		},
		{
			name:      "expired instance",
			inst:      fakeInstance{expire: time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC)},
			change:    providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20},
			wantClass: providers.ClassAccount, wantGets: 1,
			wantMsg: "instance i-1 expired at 2025-12-31T16:00:00Z and cannot be upgraded until it is renewed",
		},
		{
			name:      "elastic service bandwidth not updatable",
			inst:      fakeInstance{esbType: 3, updateEnable: &disabled},
			change:    providers.Change{Target: target(providers.AADElasticServiceBandwidth, "i-1"), Value: 80},
			wantClass: providers.ClassStatus, wantGets: 1,
			wantMsg: "instance i-1 reports elastic_service_bw_update_enable false: its elastic service bandwidth cannot be changed now",
		},
		{
			name:      "QPS not reported",
			change:    providers.Change{Target: target(providers.AADBasicQPS, "i-1"), Value: 3000},
			wantClass: providers.ClassInvalid, wantGets: 1,
			wantMsg: "the instance detail reports no basic_qps, so an aad_basic_qps change cannot be checked to be an upgrade; enable QPS on the console first",
		},
		{
			name:      "fractional value",
			change:    providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20.5},
			wantClass: providers.ClassInvalid,
			wantMsg:   "aad_basic_bandwidth takes a whole number from 0 to 2147483647, not 20.5",
		},
		{
			name:      "temporary window",
			change:    providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Temporary: &providers.Window{End: time.Now().Add(time.Hour)}},
			wantClass: providers.ClassInvalid,
			wantMsg:   "AAD has no temporary upgrades",
		},
		{
			name:      "unknown resource",
			change:    providers.Change{Target: target(providers.BandwidthOut, "i-1"), Value: 20},
			wantClass: providers.ClassInvalid,
			wantMsg:   `huawei_aad does not manage resource "bandwidth_out" (it manages aad_basic_bandwidth, aad_basic_qps, aad_bind_domain_num, aad_elastic_bandwidth, aad_elastic_service_bandwidth, aad_port_num, aad_service_bandwidth)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAAD(t)
			f.put("i-1", allValues(), tt.inst)
			c := f.akskClient(t)
			tt.change.Token = "tok"
			_, err := c.Apply(ctxT(t), tt.change)
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *providers.Error", err)
			}
			if pe.Class != tt.wantClass || pe.Message != tt.wantMsg || pe.Code != "" || pe.Provider != TypeName {
				t.Errorf("err = %+v\nwant class %s, message %q, no provider code", pe, tt.wantClass, tt.wantMsg)
			}
			gets, puts := f.counts()
			if puts != 0 || gets != tt.wantGets || f.changes() != 0 {
				t.Errorf("calls: %d reads, %d writes, %d changes; want %d reads, no write", gets, puts, f.changes(), tt.wantGets)
			}
		})
	}
}

func TestCurrentReadiness(t *testing.T) {
	disabled := false
	expire := time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		inst       fakeInstance
		resource   providers.Resource
		wantStatus string
		wantReady  bool
		wantValue  float64
	}{
		{"normal", fakeInstance{expire: expire}, providers.AADBasicBandwidth, StatusNormal, true, 10},
		{"frozen", fakeInstance{expire: expire, freezeType: []int{2}}, providers.AADBasicBandwidth, StatusFrozen, false, 10},
		{"expired", fakeInstance{expire: time.Now().Add(-time.Minute)}, providers.AADPorts, StatusExpired, false, 50},
		{"elastic service off reads 0", fakeInstance{expire: expire, esbType: 0}, providers.AADElasticServiceBandwidth, StatusNormal, true, 0},
		{"elastic service not updatable", fakeInstance{expire: expire, esbType: 3, updateEnable: &disabled}, providers.AADElasticServiceBandwidth, StatusNormal, false, 50},
		{"not updatable concerns only elastic service", fakeInstance{expire: expire, esbType: 3, updateEnable: &disabled}, providers.AADBasicBandwidth, StatusNormal, true, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAAD(t)
			f.put("i-1", allValues(), tt.inst)
			spec, err := f.akskClient(t).Current(ctxT(t), target(tt.resource, "i-1"))
			if err != nil {
				t.Fatalf("Current: %v", err)
			}
			if spec.Status != tt.wantStatus || spec.Ready != tt.wantReady || spec.Value != tt.wantValue || !spec.Prepaid {
				t.Errorf("spec = %+v, want status %s, ready %v, value %v, prepaid", spec, tt.wantStatus, tt.wantReady, tt.wantValue)
			}
			if !spec.CycleEnd.Equal(tt.inst.expire.Truncate(time.Second)) {
				t.Errorf("CycleEnd = %v, want expire_time %v", spec.CycleEnd, tt.inst.expire)
			}
		})
	}
}

func TestEpoch(t *testing.T) {
	secs := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if got := epoch(secs.Unix()); !got.Equal(secs) {
		t.Errorf("epoch(seconds) = %v, want %v", got, secs)
	}
	if got := epoch(secs.UnixMilli()); !got.Equal(secs) {
		t.Errorf("epoch(milliseconds) = %v, want %v", got, secs)
	}
	var d instanceDetail
	if err := json.Unmarshal([]byte(`{"expire_time":"1777593600","product_spec_data":{"basic_bandwidth":"30","port_num":null}}`), &d); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.value(providers.AADBasicBandwidth); v != 30 || !d.expiry().Equal(secs) {
		t.Errorf("numbers in strings: basic %v, expiry %v", v, d.expiry())
	}
}

func TestIdempotency(t *testing.T) {
	t.Run("same value is a no-op", func(t *testing.T) {
		f := newFakeAAD(t)
		f.put("i-1", allValues(), fakeInstance{})
		res, err := f.akskClient(t).Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 10, Token: "t1"})
		if err != nil || res != (providers.Result{Outcome: providers.Applied}) {
			t.Fatalf("Apply = %+v, %v; want applied with no order", res, err)
		}
		if _, puts := f.counts(); puts != 0 {
			t.Errorf("%d writes for a value already in place", puts)
		}
	})
	t.Run("same token answers from memory without a call", func(t *testing.T) {
		f := newFakeAAD(t)
		f.put("i-1", allValues(), fakeInstance{})
		c := f.akskClient(t)
		ch := providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Token: "t1"}
		first, err := c.Apply(ctxT(t), ch)
		if err != nil {
			t.Fatal(err)
		}
		gets, puts := f.counts()
		second, err := c.Apply(ctxT(t), ch)
		if err != nil || second != first {
			t.Fatalf("second Apply = %+v, %v; want the first result %+v", second, err, first)
		}
		if g, p := f.counts(); g != gets || p != puts {
			t.Errorf("second Apply with the same token called the API: reads %d->%d, writes %d->%d", gets, g, puts, p)
		}
	})
	t.Run("same token, other value", func(t *testing.T) {
		f := newFakeAAD(t)
		f.put("i-1", allValues(), fakeInstance{})
		c := f.akskClient(t)
		if _, err := c.Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Token: "t1"}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 30, Token: "t1"})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), `token "t1" was already used for a different change`) {
			t.Errorf("err = %v, want ErrInvalid for a reused token", err)
		}
	})
	t.Run("an unpaid order stays pending and is not ordered twice", func(t *testing.T) {
		f := newFakeAAD(t)
		f.put("i-1", allValues(), fakeInstance{})
		f.unpaid = true
		c := f.akskClient(t)
		tg := target(providers.AADBasicBandwidth, "i-1")
		first, err := c.Apply(ctxT(t), providers.Change{Target: tg, Value: 20, Token: "t1"})
		if err != nil || first.Outcome != providers.Processing || first.OrderID == "" {
			t.Fatalf("Apply = %+v, %v; want processing with an order", first, err)
		}
		spec, err := c.Current(ctxT(t), tg)
		if err != nil {
			t.Fatal(err)
		}
		if spec.Value != 10 || spec.Pending == nil || *spec.Pending != (providers.Pending{Value: 20, State: providers.Processing}) {
			t.Errorf("spec = %+v (pending %+v), want value 10 with 20 pending", spec, spec.Pending)
		}
		second, err := c.Apply(ctxT(t), providers.Change{Target: tg, Value: 20, Token: "t2"})
		if err != nil || second.Outcome != providers.Processing || second.OrderID != first.OrderID {
			t.Errorf("Apply with a new token = %+v, %v; want processing with order %s", second, err, first.OrderID)
		}
		if _, puts := f.counts(); puts != 1 {
			t.Errorf("%d writes, want 1: the pending order must not be placed again", puts)
		}
	})
}

func TestAuthFailures(t *testing.T) {
	t.Run("wrong secret key", func(t *testing.T) {
		f := newFakeAAD(t)
		f.put("i-1", allValues(), fakeInstance{})
		c := f.newClient(t, AKSK(f.ak, "not-the-key", f.domain))
		_, err := c.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Class != providers.ClassAccount || pe.Code != "APIGW.0301" || pe.HTTPStatus != 401 || pe.RequestID == "" {
			t.Errorf("err = %+v, want account APIGW.0301 (HTTP 401) with a request ID", err)
		}
	})
	t.Run("wrong domain ID", func(t *testing.T) {
		f := newFakeAAD(t)
		f.put("i-1", allValues(), fakeInstance{})
		_, err := f.newClient(t, AKSK(f.ak, f.sk, "other")).Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
		if !errors.Is(err, providers.ErrAccount) {
			t.Errorf("err = %v, want ErrAccount", err)
		}
	})
	t.Run("clock 20 minutes off", func(t *testing.T) {
		f := newFakeAAD(t)
		f.put("i-1", allValues(), fakeInstance{})
		skewed := func() time.Time { return time.Now().Add(-20 * time.Minute) }
		_, err := f.akskClient(t, WithClock(skewed)).Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
		if !errors.Is(err, providers.ErrAccount) || !strings.Contains(err.Error(), "15 minutes") {
			t.Errorf("err = %v, want ErrAccount for a stale X-Sdk-Date", err)
		}
	})
	t.Run("token unreadable: nothing is sent", func(t *testing.T) {
		f := newFakeAAD(t)
		f.token = "good"
		f.put("i-1", allValues(), fakeInstance{})
		c := f.newClient(t, Token(func() (string, error) { return "", errors.New("environment variable HUAWEI_TOKEN is not set") }))
		_, err := c.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
		if !errors.Is(err, providers.ErrAccount) || !strings.Contains(err.Error(), "read token: environment variable HUAWEI_TOKEN is not set") {
			t.Errorf("err = %v, want ErrAccount naming the token's source", err)
		}
		if gets, _ := f.counts(); gets != 0 {
			t.Errorf("%d reads reached the API without a token", gets)
		}
	})
	t.Run("token is read again for every call", func(t *testing.T) {
		f := newFakeAAD(t)
		f.token = "token-1"
		f.put("i-1", allValues(), fakeInstance{})
		current := "token-1"
		c := f.newClient(t, Token(func() (string, error) { return current, nil }))
		if _, err := c.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1")); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.token = "token-2"
		f.mu.Unlock()
		current = "token-2"
		if _, err := c.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1")); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	})
	t.Run("key locked after five bad signatures", func(t *testing.T) {
		f := newFakeAAD(t)
		f.put("i-1", allValues(), fakeInstance{})
		bad := f.newClient(t, AKSK(f.ak, "wrong", f.domain))
		for range 6 {
			_, _ = bad.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
		}
		_, err := f.akskClient(t).Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
		if !errors.Is(err, providers.ErrAccount) || !strings.Contains(err.Error(), "AK access failed to reach the limit") {
			t.Errorf("good key during the lock: err = %v, want the lock's APIGW.0301", err)
		}
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	f := newFakeAAD(t)
	f.put("i-1", allValues(), fakeInstance{})
	a := documentedAnswers[providers.ClassRetryLater]
	f.injectNext(a.status, a.body, a.retryAfter)
	c := f.akskClient(t)
	_, err := c.Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Token: "t"})
	if got := providers.RetryAfterOf(err); got != 7*time.Second || !errors.Is(err, providers.ErrRetryLater) {
		t.Errorf("err = %v, RetryAfter %v; want retry later after 7s", err, got)
	}
	// A refused write is not remembered: the same token may try again.
	res, err := c.Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Token: "t"})
	if err != nil || res.Outcome != providers.Applied {
		t.Errorf("retry = %+v, %v; want applied", res, err)
	}
}

func TestErrorCodeInA200Answer(t *testing.T) {
	f := newFakeAAD(t)
	f.put("i-1", allValues(), fakeInstance{})
	f.injectNext(200, map[string]string{"error_code": "CBC.30050010", "error_msg": "This operation is not allowed because some resources are included in the unpaid orders."}, "")
	_, err := f.akskClient(t).Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Token: "t"})
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.ClassAccount || pe.Code != "CBC.30050010" || pe.HTTPStatus != 200 {
		t.Errorf("err = %+v, want account CBC.30050010 from a 200 answer", err)
	}
}

// TestNoSecretInLogsOrErrors makes a successful call, then calls that fail
// in every way that carries credentials (bad signature, refused token, a
// transport failure, an unreadable token), and looks for the secret key and
// the token in every log entry, error string and printed client.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	const sk = "SK-must-never-appear-9f8e7d6c5b4a"
	const tok = "MIIZ-token-must-never-appear-1234567890"
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)

	var texts []string
	record := func(err error) {
		if err == nil {
			t.Error("expected a failing call")
			return
		}
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		var pe *providers.Error
		if errors.As(err, &pe) {
			texts = append(texts, fmt.Sprintf("%#v", *pe))
		}
	}

	f := newFakeAAD(t)
	f.put("i-1", allValues(), fakeInstance{})
	f.sk = sk
	srv := f.serve(t)

	aksk, err := New(Config{Account: "leak", Endpoint: srv, Auth: AKSK(f.ak, sk, f.domain)}, log)
	if err != nil {
		t.Fatal(err)
	}
	// Successful calls log too.
	if _, err := aksk.Apply(ctxT(t), providers.Change{Target: target(providers.AADPorts, "i-1"), Value: 60, Token: "ok"}); err != nil {
		t.Fatalf("Apply with the right key: %v", err)
	}
	f.mu.Lock()
	f.sk = "the-fake-now-expects-another-key"
	f.mu.Unlock()
	_, err = aksk.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
	record(err)
	_, err = aksk.Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Token: "t"})
	record(err)

	f.token = "a-different-token"
	token, err := New(Config{Account: "leak", Endpoint: srv, Auth: Token(func() (string, error) { return tok, nil })}, log)
	if err != nil {
		t.Fatal(err)
	}
	_, err = token.Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Token: "t"})
	record(err)

	dead, err := New(Config{Account: "leak", Endpoint: "http://127.0.0.1:1", Timeout: time.Second, Auth: AKSK(f.ak, sk, f.domain)}, log)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dead.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
	record(err)

	unreadable, err := New(Config{Account: "leak", Endpoint: srv, Auth: Token(func() (string, error) {
		return "", errors.New("secret file /run/secrets/huawei_token is empty")
	})}, log)
	if err != nil {
		t.Fatal(err)
	}
	_, err = unreadable.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1"))
	record(err)

	texts = append(texts, fmt.Sprintf("%+v", aksk), fmt.Sprintf("%#v", aksk), fmt.Sprintf("%#v", aksk.auth), fmt.Sprintf("%v", token))
	entries := logs.All()
	if len(entries) == 0 {
		t.Fatal("no log entries captured")
	}
	for _, e := range entries {
		texts = append(texts, e.Message, fmt.Sprintf("%v", e.ContextMap()))
	}
	for _, s := range texts {
		for _, secret := range []string{sk, tok} {
			if strings.Contains(s, secret) {
				t.Errorf("a secret appears in %q", s)
			}
		}
	}
}
