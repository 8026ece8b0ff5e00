package ecsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var (
	plainKey = Key{AccessKeyID: "AKPLAIN", AccessKeySecret: "plain-secret"}
	stsKey   = Key{AccessKeyID: "STS.AK", AccessKeySecret: "sts-secret", SecurityToken: "tok+en/="}
)

func newFake(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(Config{Region: "cn-shanghai", Keys: []Key{plainKey, stsKey}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []Instance{
		{ID: "i-pre", Status: "Running", InstanceChargeType: "PrePaid", InternetChargeType: "PayByBandwidth", InstanceType: "ecs.g6.large",
			BandwidthOut: 10, BandwidthIn: 10, ExpiredTime: time.Now().Add(30 * 24 * time.Hour)},
		{ID: "i-post", Status: "Stopped", InstanceChargeType: "PostPaid", InternetChargeType: "PayByTraffic", InstanceType: "ecs.g6.large",
			BandwidthOut: 5, BandwidthIn: 10},
	} {
		if err := s.Put(in); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

var nonceSeq atomic.Int64

// v3 describes a hand-signed V3 request.
type v3 struct {
	key     Key
	action  string
	query   url.Values
	body    string
	date    time.Time
	version string
	// edit changes the request after signing.
	edit func(r *http.Request)
	// unsign drops a header from SignedHeaders (it is still sent).
	unsign string
}

func (v v3) request(t *testing.T, base string) *http.Request {
	t.Helper()
	u, _ := url.Parse(base)
	if v.date.IsZero() {
		v.date = time.Now()
	}
	if v.version == "" {
		v.version = APIVersion
	}
	headers := map[string]string{
		"host":                  u.Host,
		"x-acs-action":          v.action,
		"x-acs-version":         v.version,
		"x-acs-date":            v.date.UTC().Format("2006-01-02T15:04:05Z"),
		"x-acs-signature-nonce": fmt.Sprintf("nonce-%d", nonceSeq.Add(1)),
		"x-acs-content-sha256":  HashHex(nil),
	}
	if v.key.SecurityToken != "" {
		headers["x-acs-accesskey-id"] = v.key.AccessKeyID
		headers["x-acs-security-token"] = v.key.SecurityToken
	}
	var signed []string
	for k := range headers {
		if k != v.unsign {
			signed = append(signed, k)
		}
	}
	sort.Strings(signed)
	canonical := V3CanonicalRequest("POST", "/", v.query, headers, signed, headers["x-acs-content-sha256"])
	sig := V3Signature(v.key.AccessKeySecret, V3StringToSign(canonical))
	// The wire query is Go's encoding: '+' for a space.
	req, err := http.NewRequest("POST", base+"/?"+v.query.Encode(), strings.NewReader(v.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, val := range headers {
		if k != "host" {
			req.Header.Set(k, val)
		}
	}
	req.Header.Set("Authorization", V3Algorithm+" Credential="+v.key.AccessKeyID+",SignedHeaders="+strings.Join(signed, ";")+",Signature="+sig)
	if v.edit != nil {
		v.edit(req)
	}
	return req
}

// v1 builds a hand-signed V1 GET request.
func v1(t *testing.T, base string, key Key, signWith string, action string, api url.Values, withToken bool) *http.Request {
	t.Helper()
	params := url.Values{}
	for k, vs := range api {
		params[k] = vs
	}
	params.Set("Action", action)
	params.Set("Version", APIVersion)
	params.Set("Format", "JSON")
	params.Set("AccessKeyId", key.AccessKeyID)
	params.Set("SignatureMethod", "HMAC-SHA1")
	params.Set("SignatureVersion", "1.0")
	params.Set("SignatureNonce", fmt.Sprintf("v1-%d", nonceSeq.Add(1)))
	params.Set("Timestamp", time.Now().UTC().Format("2006-01-02T15:04:05Z"))
	if withToken {
		params.Set("SecurityToken", key.SecurityToken)
	}
	params.Set("Signature", V1Signature(signWith, V1StringToSign("GET", params)))
	req, err := http.NewRequest("GET", base+"/?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

type reply struct {
	status int
	body   map[string]any
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return reply{resp.StatusCode, body}
}

func describe(region string, ids string) url.Values {
	q := url.Values{"RegionId": {region}}
	if ids != "" {
		q.Set("InstanceIds", ids)
	}
	return q
}

func TestFakeAnswers(t *testing.T) {
	s, srv := newFake(t)
	now := time.Now().UTC()
	start := now.Add(time.Minute).Format(StartTimeLayout)
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		status int
		code   string // "" for success
	}{
		{"v3 DescribeInstances", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", `["i-pre"]`)}.request(t, srv.URL)
		}, 200, ""},
		{"v3 STS", func(t *testing.T) *http.Request {
			return v3{key: stsKey, action: "DescribeInstances", query: describe("cn-shanghai", "")}.request(t, srv.URL)
		}, 200, ""},
		{"v3 space sent as + and signed as %20", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-pre"}, "InternetMaxBandwidthOut": {"20"}, "ClientToken": {"a b*c~"}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 200, ""},
		{"v1 DescribeInstances", func(t *testing.T) *http.Request {
			return v1(t, srv.URL, plainKey, plainKey.AccessKeySecret, "DescribeInstances", describe("cn-shanghai", `["i-post"]`), false)
		}, 200, ""},
		{"v1 STS", func(t *testing.T) *http.Request {
			return v1(t, srv.URL, stsKey, stsKey.AccessKeySecret, "DescribeInstances", describe("cn-shanghai", ""), true)
		}, 200, ""},

		{"no signature", func(t *testing.T) *http.Request {
			r, _ := http.NewRequest("POST", srv.URL+"/?RegionId=cn-shanghai", nil)
			return r
		}, 400, "IncompleteSignature"},
		{"v3 tampered query", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", ""),
				edit: func(r *http.Request) { r.URL.RawQuery = "RegionId=cn-beijing" }}.request(t, srv.URL)
		}, 400, "SignatureDoesNotMatch"},
		{"v3 wrong secret", func(t *testing.T) *http.Request {
			k := plainKey
			k.AccessKeySecret = "guess"
			return v3{key: k, action: "DescribeInstances", query: describe("cn-shanghai", "")}.request(t, srv.URL)
		}, 400, "SignatureDoesNotMatch"},
		{"v3 unknown key", func(t *testing.T) *http.Request {
			return v3{key: Key{AccessKeyID: "nobody", AccessKeySecret: "x"}, action: "DescribeInstances", query: describe("cn-shanghai", "")}.request(t, srv.URL)
		}, 404, "InvalidAccessKeyId.NotFound"},
		{"v3 date not signed", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", ""), unsign: "x-acs-date"}.request(t, srv.URL)
		}, 400, "IncompleteSignature"},
		{"v3 body not hashed", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", ""), body: "RegionId=cn-shanghai"}.request(t, srv.URL)
		}, 400, "InvalidParameter.ContentSHA256"},
		{"v3 stale date", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", ""), date: now.Add(-20 * time.Minute)}.request(t, srv.URL)
		}, 400, "InvalidTimeStamp.Expired"},
		{"v3 STS key without token", func(t *testing.T) *http.Request {
			k := stsKey
			k.SecurityToken = ""
			return v3{key: k, action: "DescribeInstances", query: describe("cn-shanghai", "")}.request(t, srv.URL)
		}, 400, "InvalidSecurityToken.MismatchWithAccessKey"},
		{"v3 wrong version", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", ""), version: "2016-03-14"}.request(t, srv.URL)
		}, 400, "InvalidVersion"},
		{"v1 wrong secret", func(t *testing.T) *http.Request {
			return v1(t, srv.URL, plainKey, "guess", "DescribeInstances", describe("cn-shanghai", ""), false)
		}, 400, "SignatureDoesNotMatch"},
		{"v1 STS without token", func(t *testing.T) *http.Request {
			return v1(t, srv.URL, stsKey, stsKey.AccessKeySecret, "DescribeInstances", describe("cn-shanghai", ""), false)
		}, 400, "InvalidSecurityToken.MismatchWithAccessKey"},

		{"unknown action", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "RebootInstance", query: url.Values{"InstanceId": {"i-pre"}}}.request(t, srv.URL)
		}, 400, "InvalidAction"},
		{"DescribeInstances without RegionId", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: url.Values{}}.request(t, srv.URL)
		}, 400, "MissingParameter"},
		{"DescribeInstances other region", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: describe("cn-beijing", "")}.request(t, srv.URL)
		}, 404, "InvalidRegionId.NotFound"},
		{"DescribeInstances InstanceIds not JSON", func(t *testing.T) *http.Request {
			return v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", "i-pre")}.request(t, srv.URL)
		}, 400, "InvalidInstanceIds.MalFormed"},
		{"unknown parameter", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-pre"}, "InternetMaxBandwidthOut": {"20"}, "Bandwidth": {"20"}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 400, "InvalidParameter"},
		{"bandwidth not a number", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-pre"}, "InternetMaxBandwidthOut": {"ten"}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 400, "InvalidParameter"},
		{"no InstanceId", func(t *testing.T) *http.Request {
			q := url.Values{"InternetMaxBandwidthOut": {"20"}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 400, "MissingParameter"},
		{"ClientToken over 64", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-pre"}, "InternetMaxBandwidthOut": {"20"}, "ClientToken": {strings.Repeat("t", 65)}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 400, "InvalidClientToken.ValueNotSupported"},
		{"StartTime with seconds", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-pre"}, "InternetMaxBandwidthOut": {"20"}, "StartTime": {now.Format(time.RFC3339)},
				"EndTime": {now.Add(5 * time.Hour).Format(EndTimeLayout)}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 400, "InvalidStartTime.ValueNotSupported"},
		{"window of 2 hours", func(t *testing.T) *http.Request {
			end := now.Truncate(time.Hour).Add(2 * time.Hour)
			q := url.Values{"InstanceId": {"i-pre"}, "InternetMaxBandwidthOut": {"20"}, "StartTime": {end.Add(-2 * time.Hour).Format(StartTimeLayout)},
				"EndTime": {end.Format(EndTimeLayout)}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 400, "InvalidStartTime.ValueNotSupported"},
		{"temporary on pay-as-you-go", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-post"}, "InternetMaxBandwidthOut": {"20"}, "StartTime": {start},
				"EndTime": {now.Truncate(time.Hour).Add(5 * time.Hour).Format(EndTimeLayout)}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 403, "ChargeTypeViolation"},
		{"outbound 101 on pay-by-traffic", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-post"}, "InternetMaxBandwidthOut": {"101"}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 400, "InvalidInternetMaxBandwidthOut.ValueNotSupported"},
		{"inbound above max(10, out)", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-post"}, "InternetMaxBandwidthIn": {"11"}}
			return v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: q}.request(t, srv.URL)
		}, 400, "InvalidInternetMaxBandwidthIn.ValueNotSupported"},
		{"ModifyInstanceSpec two kinds of change", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-post"}, "InstanceType": {"ecs.g6.xlarge"}, "InternetMaxBandwidthOut": {"20"}}
			return v3{key: plainKey, action: "ModifyInstanceSpec", query: q}.request(t, srv.URL)
		}, 400, "InvalidParameter.Mismatch"},
		{"ModifyInstanceSpec on a subscription", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-pre"}, "InternetMaxBandwidthOut": {"20"}}
			return v3{key: plainKey, action: "ModifyInstanceSpec", query: q}.request(t, srv.URL)
		}, 403, "ChargeTypeViolation"},
		{"ModifyInstanceSpec dry run", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-post"}, "InstanceType": {"ecs.g6.xlarge"}, "DryRun": {"true"}}
			return v3{key: plainKey, action: "ModifyInstanceSpec", query: q}.request(t, srv.URL)
		}, 400, "DryRunOperation"},
		{"ModifyInstanceSpec unknown instance", func(t *testing.T) *http.Request {
			q := url.Values{"InstanceId": {"i-none"}, "InstanceType": {"ecs.g6.xlarge"}}
			return v3{key: plainKey, action: "ModifyInstanceSpec", query: q}.request(t, srv.URL)
		}, 404, "InvalidInstanceId.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.req(t))
			if r.status != tt.status {
				t.Errorf("status = %d, want %d (%v)", r.status, tt.status, r.body)
			}
			if tt.code == "" {
				if _, ok := r.body["RequestId"]; !ok || r.body["Code"] != nil {
					t.Errorf("body = %v, want a success", r.body)
				}
				return
			}
			if r.body["Code"] != tt.code {
				t.Errorf("Code = %v, want %s (%v)", r.body["Code"], tt.code, r.body["Message"])
			}
			for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
				if v, ok := r.body[k].(string); !ok || v == "" {
					t.Errorf("error body lacks %s: %v", k, r.body)
				}
			}
		})
	}
	if got := s.Changes(); got != 1 {
		t.Errorf("changes = %d, want 1 (the one accepted write)", got)
	}
}

func TestFakeNonceReplay(t *testing.T) {
	_, srv := newFake(t)
	req := v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", "")}.request(t, srv.URL)
	replay := req.Clone(req.Context())
	if r := do(t, req); r.status != 200 {
		t.Fatalf("first: %d %v", r.status, r.body)
	}
	if r := do(t, replay); r.status != 400 || r.body["Code"] != "SignatureNonceUsed" {
		t.Errorf("replay: %d %v, want 400 SignatureNonceUsed", r.status, r.body)
	}
}

func TestFakeDescribeBody(t *testing.T) {
	_, srv := newFake(t)
	r := do(t, v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", `["i-pre","i-none"]`)}.request(t, srv.URL))
	if r.status != 200 || r.body["TotalCount"] != float64(1) {
		t.Fatalf("reply = %d %v", r.status, r.body)
	}
	inst := r.body["Instances"].(map[string]any)["Instance"].([]any)[0].(map[string]any)
	for k, want := range map[string]any{"InstanceId": "i-pre", "Status": "Running", "InstanceChargeType": "PrePaid",
		"InternetChargeType": "PayByBandwidth", "InternetMaxBandwidthOut": float64(10), "InternetMaxBandwidthIn": float64(10),
		"InstanceType": "ecs.g6.large", "RegionId": "cn-shanghai"} {
		if inst[k] != want {
			t.Errorf("%s = %v, want %v", k, inst[k], want)
		}
	}
	if _, err := time.Parse("2006-01-02T15:04Z", inst["ExpiredTime"].(string)); err != nil {
		t.Errorf("ExpiredTime %v: %v", inst["ExpiredTime"], err)
	}
}

func TestFakeInjectAndHang(t *testing.T) {
	s, srv := newFake(t)
	s.Inject(Fault{HTTPStatus: 400, Code: "Throttling.User", Message: "flow control", TimeLeft: 1500})
	req := v3{key: plainKey, action: "ModifyInstanceNetworkSpec", query: url.Values{"InstanceId": {"i-pre"}, "InternetMaxBandwidthOut": {"20"}}}.request(t, srv.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("x-ratelimit-user-api"), "TimeLeft:1500,") {
		t.Errorf("injected reply = %d %q", resp.StatusCode, resp.Header.Get("x-ratelimit-user-api"))
	}

	release := s.Hang()
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(v3{key: plainKey, action: "DescribeInstances", query: describe("cn-shanghai", "")}.request(t, srv.URL))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-done:
		t.Fatal("a request returned during the hang")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if got := <-done; got != 200 {
		t.Errorf("after release: %d, want 200", got)
	}
}
