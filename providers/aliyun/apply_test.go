package aliyun

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
)

// TestApplyRequests checks the exact parameters each change sends, the
// result, and the value Current reads afterwards.
func TestApplyRequests(t *testing.T) {
	now := time.Now().UTC()
	start := now.Truncate(time.Minute).Add(time.Minute) // the start sent: now rounded up
	end := now.Truncate(time.Hour).Add(5 * time.Hour)
	longToken := strings.Repeat("x", 65)
	hashed := "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9"
	tests := []struct {
		name      string
		s         setup
		c         providers.Change
		action    string
		params    url.Values
		wantValue float64
		wantName  string
	}{
		{"out up, subscription", setup{}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "tok-1"},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidTraffic}, "InternetMaxBandwidthOut": {"30"}, "AutoPay": {"true"}, "ClientToken": {"tok-1"}}, 30, ""},
		{"out up, v2 signature", setup{signature: SignatureV2}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "tok-1"},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidTraffic}, "InternetMaxBandwidthOut": {"30"}, "AutoPay": {"true"}, "ClientToken": {"tok-1"}}, 30, ""},
		{"in down", setup{}, providers.Change{Target: target(providers.BandwidthIn, idPrepaidTraffic), Value: 8, Token: "tok-2"},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidTraffic}, "InternetMaxBandwidthIn": {"8"}, "AutoPay": {"true"}, "ClientToken": {"tok-2"}}, 8, ""},
		{"auto_pay false", setup{options: "auto_pay: false"}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "tok-3"},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidTraffic}, "InternetMaxBandwidthOut": {"30"}, "AutoPay": {"false"}, "ClientToken": {"tok-3"}}, 30, ""},
		{"out 200, subscription pay-by-bandwidth", setup{}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidBandwidth), Value: 200, Token: "tok-4"},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidBandwidth}, "InternetMaxBandwidthOut": {"200"}, "AutoPay": {"true"}, "ClientToken": {"tok-4"}}, 200, ""},
		{"temporary", setup{}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidBandwidth), Value: 80, Token: "tok-5",
			Temporary: &providers.Window{Start: now, End: end}},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidBandwidth}, "InternetMaxBandwidthOut": {"80"}, "AutoPay": {"true"}, "ClientToken": {"tok-5"},
				"StartTime": {start.Format("2006-01-02T15:04Z")}, "EndTime": {end.Format("2006-01-02T15Z")}}, 80, ""},
		{"temporary, v2 signature", setup{signature: SignatureV2}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidBandwidth), Value: 80, Token: "tok-5",
			Temporary: &providers.Window{Start: now, End: end}},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidBandwidth}, "InternetMaxBandwidthOut": {"80"}, "AutoPay": {"true"}, "ClientToken": {"tok-5"},
				"StartTime": {start.Format("2006-01-02T15:04Z")}, "EndTime": {end.Format("2006-01-02T15Z")}}, 80, ""},
		{"postpaid out via ModifyInstanceNetworkSpec", setup{}, providers.Change{Target: target(providers.BandwidthOut, idPostpaidRunning), Value: 12, Token: "tok-6"},
			opNetworkSpec, url.Values{"InstanceId": {idPostpaidRunning}, "InternetMaxBandwidthOut": {"12"}, "AutoPay": {"true"}, "ClientToken": {"tok-6"}}, 12, ""},
		{"postpaid out via ModifyInstanceSpec", setup{options: "postpaid_bandwidth_api: ModifyInstanceSpec"},
			providers.Change{Target: target(providers.BandwidthOut, idPostpaidRunning), Value: 12, Token: "tok-7"},
			opSpec, url.Values{"InstanceId": {idPostpaidRunning}, "InternetMaxBandwidthOut": {"12"}, "ClientToken": {"tok-7"}}, 12, ""},
		{"postpaid in via ModifyInstanceSpec", setup{options: "postpaid_bandwidth_api: ModifyInstanceSpec"},
			providers.Change{Target: target(providers.BandwidthIn, idPostpaidRunning), Value: 25, Token: "tok-8"},
			opSpec, url.Values{"InstanceId": {idPostpaidRunning}, "InternetMaxBandwidthIn": {"25"}, "ClientToken": {"tok-8"}}, 25, ""},
		{"subscription ignores postpaid_bandwidth_api", setup{options: "postpaid_bandwidth_api: ModifyInstanceSpec"},
			providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "tok-9"},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidTraffic}, "InternetMaxBandwidthOut": {"30"}, "AutoPay": {"true"}, "ClientToken": {"tok-9"}}, 30, ""},
		{"instance type", setup{}, providers.Change{Target: target(providers.InstanceType, idPostpaidStopped), Value: 4, Name: "ecs.g6.xlarge", Token: "tok-10"},
			opSpec, url.Values{"InstanceId": {idPostpaidStopped}, "InstanceType": {"ecs.g6.xlarge"}, "ClientToken": {"tok-10"}}, 0, "ecs.g6.xlarge"},
		{"token with space and reserved characters", setup{}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "a b*c~d+e/f=g&h"},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidTraffic}, "InternetMaxBandwidthOut": {"30"}, "AutoPay": {"true"}, "ClientToken": {"a b*c~d+e/f=g&h"}}, 30, ""},
		{"token with space, v2 signature", setup{signature: SignatureV2}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "a b*c~d+e/f=g&h"},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidTraffic}, "InternetMaxBandwidthOut": {"30"}, "AutoPay": {"true"}, "ClientToken": {"a b*c~d+e/f=g&h"}}, 30, ""},
		{"long token hashed", setup{}, providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: longToken},
			opNetworkSpec, url.Values{"InstanceId": {idPrepaidTraffic}, "InternetMaxBandwidthOut": {"30"}, "AutoPay": {"true"}, "ClientToken": {hashed}}, 30, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.s)
			res, err := e.p.Apply(ctxT(t), tt.c)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			calls := e.fake.Calls()
			if len(calls) != 2 || calls[0].Action != opDescribe {
				t.Fatalf("calls = %+v, want DescribeInstances then one write", calls)
			}
			w := calls[1]
			if w.Action != tt.action || w.Params.Encode() != tt.params.Encode() {
				t.Errorf("sent %s %s\nwant %s %s", w.Action, w.Params.Encode(), tt.action, tt.params.Encode())
			}
			ledger := e.fake.Ledger()
			if len(ledger) != 1 {
				t.Fatalf("ledger = %+v, want one change", ledger)
			}
			wantOrder := ""
			if tt.action == opNetworkSpec {
				wantOrder = ledger[0].OrderID
			}
			if res.Outcome != providers.Applied || res.OrderID != wantOrder || !requestIDRE.MatchString(res.RequestID) {
				t.Errorf("result = %+v, want applied, order %q", res, wantOrder)
			}
			spec, err := e.p.Current(ctxT(t), tt.c.Target)
			if err != nil {
				t.Fatal(err)
			}
			if spec.Value != tt.wantValue || spec.Name != tt.wantName {
				t.Errorf("Current after Apply = %v %q, want %v %q", spec.Value, spec.Name, tt.wantValue, tt.wantName)
			}
		})
	}
}

func TestClientToken(t *testing.T) {
	// Hashes from sha256sum.
	tests := []struct{ in, want string }{
		{"", ""},
		{"conformance-1-up", "conformance-1-up"},
		{"a b*c~d", "a b*c~d"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("x", 65), "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9"},
		{"tök", "2c0edbabf162720a9136d3705445464cb3d57b313c967ee52616084ec8a7e31d"},
		{"a\tb", "894891f8b78a9945b0aa07e70d5f71f10b1f1990af127de561cc0ac36024c188"}, // a control character
	}
	for _, tt := range tests {
		if got := clientToken(tt.in); got != tt.want {
			t.Errorf("clientToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNumericOrderID(t *testing.T) {
	e := newEnv(t, setup{numericOrder: true})
	res, err := e.p.Apply(ctxT(t), providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if want := e.fake.Ledger()[0].OrderID; res.OrderID != want {
		t.Errorf("OrderID = %q, want %q", res.OrderID, want)
	}
}

// TestWindow checks the temporary window as the adapter formats and refuses
// it, with a fixed clock.
func TestWindow(t *testing.T) {
	now := time.Date(2030, 6, 1, 10, 20, 30, 0, time.UTC)
	p := &Provider{now: func() time.Time { return now }}
	at := func(h, m, s int) time.Time { return time.Date(2030, 6, 1, h, m, s, 0, time.UTC) }
	tests := []struct {
		name      string
		w         providers.Window
		wantStart string
		wantEnd   string
		wantErr   string
	}{
		{"now to 4 hours on", providers.Window{Start: now, End: at(14, 0, 0)}, "2030-06-01T10:21Z", "2030-06-01T14Z", ""},
		{"start 30s ago", providers.Window{Start: now.Add(-30 * time.Second), End: at(14, 0, 0)}, "2030-06-01T10:21Z", "2030-06-01T14Z", ""},
		{"future start on the minute", providers.Window{Start: at(11, 0, 0), End: at(14, 0, 0)}, "2030-06-01T11:00Z", "2030-06-01T14Z", ""},
		{"end in another zone", providers.Window{Start: at(11, 0, 0), End: at(14, 0, 0).In(time.FixedZone("CST", 8*3600))}, "2030-06-01T11:00Z", "2030-06-01T14Z", ""},
		{"about 6 months", providers.Window{Start: at(11, 0, 0), End: at(11, 0, 0).Add(MaxTemporaryWindow)}, "2030-06-01T11:00Z", "2030-11-29T11Z", ""},
		{"no start", providers.Window{End: at(14, 0, 0)}, "", "", "temporary window needs both a start and an end"},
		{"no end", providers.Window{Start: now}, "", "", "temporary window needs both a start and an end"},
		{"start 2 minutes ago", providers.Window{Start: now.Add(-2 * time.Minute), End: at(14, 0, 0)}, "", "",
			"temporary window starts at 2030-06-01T10:18:30Z, 2m0s in the past (at most 1m0s allowed)"},
		{"end not on the hour", providers.Window{Start: now, End: at(14, 30, 0)}, "", "",
			"temporary window ends at 2030-06-01T14:30:00Z, not on the hour: ECS takes EndTime to the hour (yyyy-MM-ddTHHZ)"},
		{"end with seconds", providers.Window{Start: now, End: at(14, 0, 1)}, "", "",
			"temporary window ends at 2030-06-01T14:00:01Z, not on the hour: ECS takes EndTime to the hour (yyyy-MM-ddTHHZ)"},
		{"shorter than 3 hours", providers.Window{Start: now, End: at(13, 0, 0)}, "", "",
			"temporary window 2030-06-01T10:21:00Z to 2030-06-01T13:00:00Z lasts 2h39m0s, less than the 3h0m0s ECS requires"},
		{"end before start", providers.Window{Start: at(15, 0, 0), End: at(14, 0, 0)}, "", "",
			"temporary window 2030-06-01T15:00:00Z to 2030-06-01T14:00:00Z lasts -1h0m0s, less than the 3h0m0s ECS requires"},
		{"longer than 6 months", providers.Window{Start: at(11, 0, 0), End: at(11, 0, 0).Add(MaxTemporaryWindow + time.Hour)}, "", "",
			"temporary window 2030-06-01T11:00:00Z to 2030-11-29T12:00:00Z lasts 4345h0m0s, more than the 4344h0m0s (6 months) ECS allows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := p.window(tt.w)
			if tt.wantErr != "" {
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Class != providers.ClassInvalid || pe.Message != tt.wantErr || pe.Op != opNetworkSpec {
					t.Fatalf("err = %v, want invalid %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.start != tt.wantStart || w.end != tt.wantEnd {
				t.Errorf("window = %s %s, want %s %s", w.start, w.end, tt.wantStart, tt.wantEnd)
			}
		})
	}
}

// TestApplyRefusals checks what Apply refuses before writing: with no call
// at all when no instance could accept it, after DescribeInstances only when
// the instance rules it out.
func TestApplyRefusals(t *testing.T) {
	now := time.Now().UTC()
	end := now.Truncate(time.Hour).Add(5 * time.Hour)
	win := &providers.Window{Start: now, End: end}
	tests := []struct {
		name  string
		c     providers.Change
		class providers.Class
		op    string
		msg   string
		reads int
	}{
		{"unknown resource", providers.Change{Target: target(providers.AADPorts, idPrepaidTraffic), Value: 3},
			providers.ClassInvalid, opApply, `aliyun does not change "aad_port_num"`, 0},
		{"bad instance ID", providers.Change{Target: target(providers.BandwidthOut, "i/1"), Value: 3},
			providers.ClassInvalid, opApply, `instance ID "i/1" is not valid`, 0},
		{"fraction", providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 20.5},
			providers.ClassInvalid, opApply, "bandwidth_out 20.5: ECS takes whole Mbit/s from 0 to 200", 0},
		{"above 200", providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 201},
			providers.ClassInvalid, opApply, "bandwidth_out 201: ECS takes whole Mbit/s from 0 to 200", 0},
		{"negative", providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: -1},
			providers.ClassInvalid, opApply, "bandwidth_out -1: ECS takes whole Mbit/s from 0 to 200", 0},
		{"inbound 0", providers.Change{Target: target(providers.BandwidthIn, idPrepaidTraffic), Value: 0},
			providers.ClassInvalid, opApply, "bandwidth_in 0: ECS takes whole Mbit/s from 1 to 200", 0},
		{"type name", providers.Change{Target: target(providers.InstanceType, idPostpaidStopped), Name: "g6.large"},
			providers.ClassInvalid, opSpec, `instance type "g6.large" is not an ECS type name such as ecs.g6.large`, 0},
		{"temporary type", providers.Change{Target: target(providers.InstanceType, idPostpaidStopped), Name: "ecs.g6.xlarge", Temporary: win},
			providers.ClassInvalid, opSpec, "ECS has no temporary change of the instance type", 0},
		{"temporary inbound", providers.Change{Target: target(providers.BandwidthIn, idPrepaidBandwidth), Value: 30, Temporary: win},
			providers.ClassInvalid, opNetworkSpec, "ECS upgrades only bandwidth_out temporarily, not bandwidth_in", 0},
		{"temporary window too short", providers.Change{Target: target(providers.BandwidthOut, idPrepaidBandwidth), Value: 30,
			Temporary: &providers.Window{Start: end.Add(-2 * time.Hour), End: end}},
			providers.ClassInvalid, opNetworkSpec, "temporary window " + end.Add(-2*time.Hour).Format(time.RFC3339) + " to " + end.Format(time.RFC3339) +
				" lasts 2h0m0s, less than the 3h0m0s ECS requires", 0},

		{"type of a subscription instance", providers.Change{Target: target(providers.InstanceType, idPrepaidTraffic), Name: "ecs.g6.xlarge"},
			providers.ClassInvalid, opSpec, "instance i-bp1prepaidtraffic is a subscription (PrePaid) instance: its type changes through ModifyPrepayInstanceSpec, which specscale does not call", 1},
		{"type of a running instance", providers.Change{Target: target(providers.InstanceType, idPostpaidRunning), Name: "ecs.g6.xlarge"},
			providers.ClassStatus, opSpec, "instance i-bp1postpaidrun is Running: ECS changes the instance type only when it is Stopped", 1},
		{"bandwidth of a starting instance", providers.Change{Target: target(providers.BandwidthOut, idStarting), Value: 20},
			providers.ClassStatus, opNetworkSpec, "instance i-bp1starting is Starting: ECS changes bandwidth only when it is Running or Stopped", 1},
		{"security lock", providers.Change{Target: target(providers.BandwidthOut, idLocked), Value: 20},
			providers.ClassAccount, opNetworkSpec, "instance i-bp1locked has operation locks security", 1},
		{"outbound above 100", providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 150},
			providers.ClassInvalid, opNetworkSpec, "outbound 150 Mbit/s is above the 100 Mbit/s ECS allows for instance i-bp1prepaidtraffic (PrePaid, PayByTraffic)", 1},
		{"inbound above max(10, out)", providers.Change{Target: target(providers.BandwidthIn, idPrepaidTraffic), Value: 11},
			providers.ClassInvalid, opNetworkSpec, "inbound 11 Mbit/s is above the 10 Mbit/s ECS allows for instance i-bp1prepaidtraffic (max(10, outbound 10))", 1},
		{"temporary on pay-by-traffic", providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Temporary: win},
			providers.ClassInvalid, opNetworkSpec, "instance i-bp1prepaidtraffic (PrePaid, PayByTraffic) takes no temporary upgrade: ECS allows it for " + temporaryConditions, 1},
		{"temporary with an EIP", providers.Change{Target: target(providers.BandwidthOut, idPrepaidEIP), Value: 30, Temporary: win},
			providers.ClassInvalid, opNetworkSpec, "instance i-bp1prepaideip (PrePaid, PayByBandwidth, EIP bound) takes no temporary upgrade: ECS allows it for " + temporaryConditions, 1},
		{"temporary on pay-as-you-go", providers.Change{Target: target(providers.BandwidthOut, idPostpaidRunning), Value: 40, Temporary: win},
			providers.ClassInvalid, opNetworkSpec, "instance i-bp1postpaidrun (PostPaid, PayByTraffic) takes no temporary upgrade: ECS allows it for " + temporaryConditions, 1},
		{"temporary below current", providers.Change{Target: target(providers.BandwidthOut, idPrepaidBandwidth), Value: 10, Temporary: win},
			providers.ClassInvalid, opNetworkSpec, "a temporary upgrade to 10 Mbit/s would be below the current 20 Mbit/s", 1},
		{"missing instance", providers.Change{Target: target(providers.BandwidthOut, idMissing), Value: 20},
			providers.ClassNotFound, opDescribe, "no instance i-bp1missing in region cn-shanghai", 1},
	}
	e := newEnv(t, setup{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.fake.Calls())
			tt.c.Token = "refused"
			_, err := e.p.Apply(ctxT(t), tt.c)
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *providers.Error", err)
			}
			if pe.Class != tt.class || pe.Op != tt.op || pe.Message != tt.msg {
				t.Errorf("got {%s %s %q}\nwant {%s %s %q}", pe.Class, pe.Op, pe.Message, tt.class, tt.op, tt.msg)
			}
			calls := e.fake.Calls()[before:]
			if len(calls) != tt.reads {
				t.Errorf("calls = %+v, want %d DescribeInstances", calls, tt.reads)
			}
			for _, c := range calls {
				if c.Action != opDescribe {
					t.Errorf("refused Apply called %s", c.Action)
				}
			}
		})
	}
	if e.fake.Changes() != 0 {
		t.Errorf("refusals changed something")
	}
}

// TestECSRules drives the rules the fake keeps (and ECS documents) through
// the adapter: the answers arrive classified.
func TestECSRules(t *testing.T) {
	noLock := simcloud.DefaultRules()
	noLock.Lock = 0
	out := func(id string, v float64, tok string) providers.Change {
		return providers.Change{Target: target(providers.BandwidthOut, id), Value: v, Token: tok}
	}
	tests := []struct {
		name    string
		rules   *simcloud.Rules
		changes []providers.Change // all but the last succeed
		class   providers.Class
		code    string
	}{
		{"lock after a change", nil, []providers.Change{out(idPrepaidTraffic, 20, "a"), out(idPrepaidTraffic, 30, "b")},
			providers.ClassCooldown, "OperationConflict"},
		{"fourth downgrade of a subscription", &noLock, []providers.Change{out(idPrepaidTraffic, 9, "a"), out(idPrepaidTraffic, 8, "b"),
			out(idPrepaidTraffic, 7, "c"), out(idPrepaidTraffic, 6, "d")}, providers.ClassQuota, "InstanceDowngrade.QuotaExceed"},
		{"downgrade of subscription pay-by-bandwidth", &noLock, []providers.Change{out(idPrepaidBandwidth, 10, "a")},
			providers.ClassInvalid, "DecreasedBandwidthNotAllowed"},
		{"same token, other value", &noLock, []providers.Change{out(idPrepaidTraffic, 20, "same"), out(idPrepaidTraffic, 30, "same")},
			providers.ClassInvalid, "IdempotentParameterMismatch"},
		{"same token, other value, ModifyInstanceSpec", &noLock, []providers.Change{
			{Target: target(providers.InstanceType, idPostpaidStopped), Name: "ecs.g6.xlarge", Token: "same"},
			{Target: target(providers.InstanceType, idPostpaidStopped), Name: "ecs.c6.large", Token: "same"}},
			providers.ClassInvalid, "IdempotenceParamNotMatch"},
		{"type outside the catalogue", nil, []providers.Change{{Target: target(providers.InstanceType, idPostpaidStopped), Name: "ecs.x9.huge", Token: "a"}},
			providers.ClassInvalid, "InvalidInstanceType.ValueNotSupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, setup{rules: tt.rules})
			last := len(tt.changes) - 1
			for _, c := range tt.changes[:last] {
				if _, err := e.p.Apply(ctxT(t), c); err != nil {
					t.Fatalf("Apply %v: %v", c, err)
				}
			}
			_, err := e.p.Apply(ctxT(t), tt.changes[last])
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Class != tt.class || pe.Code != tt.code {
				t.Fatalf("err = %v, want %s %s", err, tt.class, tt.code)
			}
			if got := e.fake.Changes(); got != last {
				t.Errorf("changes = %d, want %d", got, last)
			}
		})
	}
	t.Run("pay-as-you-go has no downgrade quota", func(t *testing.T) {
		e := newEnv(t, setup{rules: &noLock})
		for i, v := range []float64{25, 20, 15, 10, 5} {
			if _, err := e.p.Apply(ctxT(t), out(idPostpaidRunning, v, string(rune('a'+i)))); err != nil {
				t.Fatalf("downgrade %d: %v", i+1, err)
			}
		}
	})
}
