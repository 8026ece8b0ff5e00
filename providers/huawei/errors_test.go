package huawei

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/providertest"
)

// wantClasses is the classification table as the docs read it, written out
// again so that an edit of knownCodes must be made twice on purpose.
var wantClasses = map[string]providers.Class{
	"APIGW.0101": providers.ClassInvalid,
	"APIGW.0201": providers.ClassInvalid,
	"APIGW.0301": providers.ClassAccount,
	"APIGW.0302": providers.ClassAccount,
	"APIGW.0303": providers.ClassAccount,
	"APIGW.0304": providers.ClassAccount,
	"APIGW.0305": providers.ClassAccount,
	"APIGW.0306": providers.ClassAccount,
	"APIGW.0307": providers.ClassAccount,
	"APIGW.0308": providers.ClassRetryLater,
	"APIGW.0310": providers.ClassAccount,
	"APIGW.0401": providers.ClassAccount,
	"APIGW.0402": providers.ClassAccount,
	"APIGW.0502": providers.ClassAccount,
	"APIGW.0601": providers.ClassRetryLater,
	"APIGW.0602": providers.ClassInvalid,
	"APIGW.0613": providers.ClassRetryLater,
	"APIGW.0801": providers.ClassAccount,
	"APIGW.0802": providers.ClassAccount,
	"APIG.0301":  providers.ClassAccount,
	"APIG.0308":  providers.ClassRetryLater,

	"Anti-DDoS.10000001": providers.ClassInvalid,
	"Anti-DDoS.10000002": providers.ClassAccount,
	"Anti-DDoS.10000004": providers.ClassAccount,
	"Anti-DDoS.10000009": providers.ClassAccount,
	"Anti-DDoS.10000010": providers.ClassAccount,
	"Anti-DDoS.10000012": providers.ClassAccount,
	"Anti-DDoS.10000030": providers.ClassAccount,
	"Anti-DDoS.10001009": providers.ClassAccount,
	"Anti-DDoS.11000000": providers.ClassRetryLater,

	"AAD.10010035": providers.ClassNotFound,

	"CBC.3002":     providers.ClassStatus,
	"CBC.3016":     providers.ClassAccount,
	"CBC.3144":     providers.ClassInProgress,
	"CBC.30050009": providers.ClassNotFound,
	"CBC.30050010": providers.ClassAccount,
	"CBC.30050011": providers.ClassInProgress,
}

// TestEveryKnownCode walks every code the adapter lists, answered with its
// documented HTTP status (400 where the docs give none) in AAD's body
// shape, and checks the class, the sentinel, and that code, message and
// request ID survive.
func TestEveryKnownCode(t *testing.T) {
	if len(knownCodes) != len(wantClasses) {
		t.Errorf("knownCodes has %d codes, the test table %d", len(knownCodes), len(wantClasses))
	}
	codes := make([]string, 0, len(knownCodes))
	for code := range knownCodes {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, code := range codes {
		t.Run(code, func(t *testing.T) {
			info := knownCodes[code]
			want, ok := wantClasses[code]
			if !ok {
				t.Fatalf("code %s is not in the test table", code)
			}
			if info.Source == "" || info.Meta == "" {
				t.Errorf("code %s has no source or meaning", code)
			}
			status := info.Status
			if status == 0 {
				status = http.StatusBadRequest
			}
			resp := &http.Response{StatusCode: status, Header: http.Header{headerRequestID: {"req-" + code}}}
			body := `{"error_code":"` + code + `","error_description":"described ` + code + `"}`
			pe := apiError(opUpgrade, resp, []byte(body), now)
			if pe.Class != want {
				t.Errorf("class = %s, want %s", pe.Class, want)
			}
			if !errors.Is(pe, providertest.Sentinel(want)) {
				t.Errorf("errors.Is(%v, sentinel %s) = false", pe, want)
			}
			if pe.Code != code || pe.Message != "described "+code || pe.RequestID != "req-"+code || pe.HTTPStatus != status {
				t.Errorf("error = %+v, want code %s, message, request ID and status %d kept", pe, code, status)
			}
			if pe.Provider != TypeName || pe.Op != opUpgrade {
				t.Errorf("provider/op = %s/%s", pe.Provider, pe.Op)
			}
		})
	}
}

// TestEveryKnownCodeThroughTheFake has the signature-checking fake answer
// each code, with its documented status and AAD's body, to a real Apply,
// and checks what the executor gets: class, sentinel, the code, message,
// status and request ID as answered, and no change made.
func TestEveryKnownCodeThroughTheFake(t *testing.T) {
	codes := make([]string, 0, len(knownCodes))
	for code := range knownCodes {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		t.Run(code, func(t *testing.T) {
			want := wantClasses[code]
			status := knownCodes[code].Status
			if status == 0 {
				status = http.StatusBadRequest
			}
			f := newFakeAAD(t)
			f.put("i-1", allValues(), fakeInstance{})
			c := f.akskClient(t)
			msg := "described " + code
			f.injectNext(status, map[string]string{"error_code": code, "error_description": msg}, "")
			_, err := c.Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 20, Token: "tok"})
			if !errors.Is(err, providertest.Sentinel(want)) {
				t.Fatalf("err = %v, want class %s", err, want)
			}
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not a *providers.Error", err)
			}
			if pe.Class != want || pe.Op != opUpgrade || pe.HTTPStatus != status || pe.Code != code || pe.Message != msg {
				t.Errorf("got %+v, want class %s op %s status %d code %s message %q", pe, want, opUpgrade, status, code, msg)
			}
			if !strings.HasPrefix(pe.RequestID, "fake-req-") {
				t.Errorf("RequestID = %q, want the fake's X-Request-Id", pe.RequestID)
			}
			if _, puts := f.counts(); puts != 1 {
				t.Errorf("the fake received %d PUTs, want 1", puts)
			}
			if n := f.changes(); n != 0 {
				t.Errorf("a refused Apply made %d changes", n)
			}
		})
	}
}

func TestClassifyByStatusAndWords(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   string
		desc   string
		want   providers.Class
	}{
		{"429 whatever the code", 429, "X.1", "", providers.ClassRetryLater},
		{"5xx whatever the code", 503, "X.1", "", providers.ClassRetryLater},
		{"APIGW.0201 with 502 is a backend outage", 502, "APIGW.0201", "Backend unavailable", providers.ClassRetryLater},
		{"APIGW.0201 with 504 is a backend timeout", 504, "APIGW.0201", "Backend timeout", providers.ClassRetryLater},
		{"APIGW.0201 with 400 is a bad request", 400, "APIGW.0201", "API request error", providers.ClassInvalid},
		{"undocumented 401", 401, "AAD.99999999", "", providers.ClassAccount},
		{"undocumented 403", 403, "AAD.99999999", "", providers.ClassAccount},
		{"undocumented 404", 404, "AAD.99999999", "", providers.ClassNotFound},
		{"undocumented 409", 409, "AAD.99999999", "", providers.ClassInProgress},
		{"documented code beats 404", 404, "APIGW.0101", "", providers.ClassInvalid},
		{"words: order in progress", 400, "AAD.99999999", "The order is in progress, try later", providers.ClassInProgress},
		{"words: frozen", 400, "AAD.99999999", "Instance is frozen", providers.ClassAccount},
		{"words: expired", 400, "AAD.99999999", "The instance has expired", providers.ClassAccount},
		{"words: arrears", 400, "AAD.99999999", "Account in arrears", providers.ClassAccount},
		{"words: not exist", 400, "AAD.99999999", "instance not exist", providers.ClassNotFound},
		{"words: throttled", 400, "AAD.99999999", "Request throttled", providers.ClassRetryLater},
		{"words do not override a documented code", 400, "Anti-DDoS.10000001", "instance not exist", providers.ClassInvalid},
		{"anything else is invalid", 400, "AAD.99999999", "bandwidth out of range", providers.ClassInvalid},
		{"processing alone is not in progress", 400, "AAD.99999999", "error processing parameter basic_bandwidth", providers.ClassInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.status, tt.code, tt.desc); got != tt.want {
				t.Errorf("classify(%d, %q, %q) = %s, want %s", tt.status, tt.code, tt.desc, got, tt.want)
			}
		})
	}
}

func TestAPIErrorBodies(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		want       providers.Error
		wantString string
	}{
		{
			name:   "AAD error_description with X-Request-Id",
			status: 400, header: http.Header{headerRequestID: {"r-1"}},
			body:       `{"error_code":"AAD.10010035","error_description":"instance not exist"}`,
			want:       providers.Error{Class: providers.ClassNotFound, Code: "AAD.10010035", Message: "instance not exist", RequestID: "r-1"},
			wantString: "huawei_aad UpgradeInstanceSpec: not_found AAD.10010035 (HTTP 400): instance not exist [request r-1]",
		},
		{
			name:   "gateway error_msg with request_id in the body",
			status: 401, header: http.Header{},
			body: `{"error_msg":"Incorrect IAM authentication information: verify aksk signature fail","error_code":"APIGW.0301","request_id":"gw-9"}`,
			want: providers.Error{Class: providers.ClassAccount, Code: "APIGW.0301", Message: "Incorrect IAM authentication information: verify aksk signature fail", RequestID: "gw-9"},
		},
		{
			name:   "header request ID wins over the body's",
			status: 401, header: http.Header{headerRequestID: {"hdr"}},
			body: `{"error_msg":"x","error_code":"APIGW.0301","request_id":"body"}`,
			want: providers.Error{Class: providers.ClassAccount, Code: "APIGW.0301", Message: "x", RequestID: "hdr"},
		},
		{
			name:   "IAM error object",
			status: 401, header: http.Header{},
			body: `{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}`,
			want: providers.Error{Class: providers.ClassAccount, Code: "401", Message: "The request you have made requires authentication."},
		},
		{
			name:   "throttled with Retry-After seconds",
			status: 429, header: http.Header{"Retry-After": {"7"}},
			body: `{"error_code":"APIGW.0308","error_msg":"The throttling threshold has been reached"}`,
			want: providers.Error{Class: providers.ClassRetryLater, Code: "APIGW.0308", Message: "The throttling threshold has been reached", RetryAfter: 7 * time.Second},
		},
		{
			name:   "Retry-After as an HTTP date",
			status: 503, header: http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}},
			body: `{"error_code":"APIGW.0613","error_msg":"IAM unavailable"}`,
			want: providers.Error{Class: providers.ClassRetryLater, Code: "APIGW.0613", Message: "IAM unavailable", RetryAfter: 90 * time.Second},
		},
		{
			name:   "not a JSON body",
			status: 502, header: http.Header{},
			body: "<html>Bad Gateway</html>",
			want: providers.Error{Class: providers.ClassRetryLater, Code: "HTTP502", Message: "<html>Bad Gateway</html>"},
		},
		{
			name:   "empty 403",
			status: 403, header: http.Header{},
			body: "",
			want: providers.Error{Class: providers.ClassAccount, Code: "HTTP403"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := apiError(opUpgrade, &http.Response{StatusCode: tt.status, Header: tt.header}, []byte(tt.body), now)
			want := tt.want
			want.Provider, want.Op, want.HTTPStatus = TypeName, opUpgrade, tt.status
			if *pe != want {
				t.Errorf("apiError =\n  %+v\nwant\n  %+v", *pe, want)
			}
			if tt.wantString != "" && pe.Error() != tt.wantString {
				t.Errorf("Error() = %q, want %q", pe.Error(), tt.wantString)
			}
		})
	}
}

func TestLongMessagesAreCut(t *testing.T) {
	long := strings.Repeat("é", 600)
	pe := apiError(opShow, &http.Response{StatusCode: 400, Header: http.Header{}}, []byte(`{"error_code":"X","error_description":"`+long+`"}`), time.Now())
	if len(pe.Message) > maxMessage+len("…") || !strings.HasSuffix(pe.Message, "…") {
		t.Errorf("message of %d bytes not cut to %d", len(pe.Message), maxMessage)
	}
	if !strings.HasPrefix(long, strings.TrimSuffix(pe.Message, "…")) {
		t.Errorf("cut message is not a valid prefix")
	}
}
