package aliyun

import (
	"errors"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
)

func TestCurrent(t *testing.T) {
	e := newEnv(t, setup{})
	cycle1 := time.Date(2031, 1, 15, 16, 0, 0, 0, time.UTC)
	cycle2 := time.Date(2031, 2, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		t    providers.Target
		want providers.Spec
	}{
		{"out prepaid traffic", target(providers.BandwidthOut, idPrepaidTraffic),
			providers.Spec{Value: 10, Status: "Running", Ready: true, Prepaid: true, Min: 0, Max: 100, CycleEnd: cycle1}},
		{"out prepaid bandwidth", target(providers.BandwidthOut, idPrepaidBandwidth),
			providers.Spec{Value: 20, Status: "Running", Ready: true, Prepaid: true, Min: 0, Max: 200, CycleEnd: cycle2, Temporary: true}},
		{"out prepaid EIP", target(providers.BandwidthOut, idPrepaidEIP),
			providers.Spec{Value: 5, Status: "Running", Ready: true, Prepaid: true, Min: 0, Max: 200, CycleEnd: cycle2}},
		{"in prepaid traffic", target(providers.BandwidthIn, idPrepaidTraffic),
			providers.Spec{Value: 10, Status: "Running", Ready: true, Prepaid: true, Min: 1, Max: 10, CycleEnd: cycle1}},
		{"in postpaid running", target(providers.BandwidthIn, idPostpaidRunning),
			providers.Spec{Value: 30, Status: "Running", Ready: true, Min: 1, Max: 30}},
		{"out postpaid stopped", target(providers.BandwidthOut, idPostpaidStopped),
			providers.Spec{Value: 5, Status: "Stopped", Ready: true, Min: 0, Max: 100}},
		{"type postpaid stopped", target(providers.InstanceType, idPostpaidStopped),
			providers.Spec{Name: "ecs.g6.large", Status: "Stopped", Ready: true}},
		{"type postpaid running", target(providers.InstanceType, idPostpaidRunning),
			providers.Spec{Name: "ecs.c6.large", Status: "Running"}},
		{"out locked", target(providers.BandwidthOut, idLocked),
			providers.Spec{Value: 5, Status: "Running", Min: 0, Max: 100}},
		{"out starting", target(providers.BandwidthOut, idStarting),
			providers.Spec{Value: 5, Status: "Starting", Min: 0, Max: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.p.Current(ctxT(t), tt.t)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Target = tt.t
			if got != want {
				t.Errorf("Current\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestCurrentRefusals(t *testing.T) {
	e := newEnv(t, setup{})
	tests := []struct {
		name  string
		t     providers.Target
		class providers.Class
		code  string
		msg   string
		calls int
	}{
		{"missing", target(providers.BandwidthOut, idMissing), providers.ClassNotFound, "InvalidInstanceId.NotFound",
			"no instance i-bp1missing in region cn-shanghai", 1},
		{"unknown resource", target(providers.AADBasicQPS, idPrepaidTraffic), providers.ClassInvalid, "",
			`aliyun does not change "aad_basic_qps"`, 0},
		{"bad ID", target(providers.BandwidthOut, "i bad"), providers.ClassInvalid, "",
			`instance ID "i bad" is not valid`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.fake.Calls())
			_, err := e.p.Current(ctxT(t), tt.t)
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *providers.Error", err)
			}
			if pe.Class != tt.class || pe.Code != tt.code || pe.Message != tt.msg || pe.Op != opDescribe {
				t.Errorf("got {%s %q %q %s}, want {%s %q %q DescribeInstances}", pe.Class, pe.Code, pe.Message, pe.Op, tt.class, tt.code, tt.msg)
			}
			if got := len(e.fake.Calls()) - before; got != tt.calls {
				t.Errorf("calls = %d, want %d", got, tt.calls)
			}
		})
	}
}

func TestDescribeRequest(t *testing.T) {
	for _, sig := range []string{SignatureV3, SignatureV2} {
		t.Run(sig, func(t *testing.T) {
			e := newEnv(t, setup{signature: sig})
			if _, err := e.p.Current(ctxT(t), target(providers.BandwidthOut, idPrepaidTraffic)); err != nil {
				t.Fatal(err)
			}
			calls := e.fake.Calls()
			if len(calls) != 1 {
				t.Fatalf("calls = %d, want 1", len(calls))
			}
			c := calls[0]
			wantScheme := map[string]string{SignatureV3: "v3", SignatureV2: "v1"}[sig]
			if c.Action != "DescribeInstances" || c.Scheme != wantScheme || c.Params.Encode() != `InstanceIds=%5B%22i-bp1prepaidtraffic%22%5D&RegionId=cn-shanghai` {
				t.Errorf("call = %s %s %s", c.Action, c.Scheme, c.Params.Encode())
			}
		})
	}
}

func TestParseExpired(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2017-12-10T04:04Z", time.Date(2017, 12, 10, 4, 4, 0, 0, time.UTC)},
		{"2017-12-10T04:04:05Z", time.Date(2017, 12, 10, 4, 4, 5, 0, time.UTC)},
		{"", time.Time{}},
		{"soon", time.Time{}},
	}
	for _, tt := range tests {
		if got := parseExpired(tt.in); !got.Equal(tt.want) {
			t.Errorf("parseExpired(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
