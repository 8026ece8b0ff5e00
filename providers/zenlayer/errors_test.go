package zenlayer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/providertest"
)

// seedCodes is every row of the error tables of the two seed pages (BMC
// ModifyInstanceBandwidth, VM ModifyInstanceType), with its documented HTTP
// status, and the class the adapter gives it.
var seedCodes = []struct {
	action string // the write call whose table lists the code
	status int
	code   string
	desc   string // the table's description
	want   providers.Class
}{
	// BMC ModifyInstanceBandwidth.
	{actionModifyBandwidth, 404, "INVALID_INSTANCE_NOT_FOUND", "Instance does not exist.", providers.ClassNotFound},
	{actionModifyBandwidth, 403, "OPERATION_DENIED_INSTANCE_NOT_RUNNING", "Only operations on instances in RUNNING status are supported.", providers.ClassStatus},
	{actionModifyBandwidth, 400, "INVALID_PARAMETER_BANDWIDTH_EXCEED", "Bandwidth exceeds upper limit.", providers.ClassInvalid},
	{actionModifyBandwidth, 403, "OPERATION_FAILED_INSTANCE_BANDWIDTH_PROCESSING", "Bandwidth is being modified.", providers.ClassInProgress},
	// VM ModifyInstanceType.
	{actionModifyType, 404, "INVALID_INSTANCE_NOT_FOUND", "Instance does not exist.", providers.ClassNotFound},
	{actionModifyType, 403, "INVALID_INSTANCE_TYPE_NOT_CHANGED", "Instance model does not changed.", providers.ClassInvalid},
	{actionModifyType, 400, "OPERATION_FAILED_INSTANCE_TYPE_UNSUPPORTED", "Unsupported model for the current instance.", providers.ClassInvalid},
	{actionModifyType, 403, "OPERATION_DENIED_INSTANCE_EXIST_PLAN", "A scheduling change exists.", providers.ClassQuota},
	{actionModifyType, 403, "OPERATION_DENIED_INSTANCE_PLAN_PROCESSING", "A processing change exists.", providers.ClassInProgress},
	{actionModifyType, 400, "UNSUPPORTED_OPERATION_INSTANCE_STATUS", "Only operations on instances in RUNNING or STOPPED status are supported.", providers.ClassStatus},
	{actionModifyType, 400, "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT", "Specification change is not supported in the current zone.", providers.ClassInvalid},
	{actionModifyType, 400, "UNSUPPORTED_OPERATION_INSTANCE_BEING_RECYCLE", "Operations on instances in recycle bin are not supported.", providers.ClassStatus},
	{actionModifyType, 404, "INVALID_PRODUCT_NOT_FOUND", "Model does not exist.", providers.ClassNotFound},
}

// otherCodes are the common and SDK-listed codes, and the fallbacks for
// codes the table does not know.
var otherCodes = []struct {
	name   string
	status int
	code   string
	want   providers.Class
}{
	{"rate limit code", 400, "REQUEST_LIMIT_EXCEEDED", providers.ClassRetryLater},
	{"rate limit status", 429, "REQUEST_LIMIT_EXCEEDED", providers.ClassRetryLater},
	{"rate limit status, other code", 429, "TOO_MANY", providers.ClassRetryLater},
	{"service unavailable", 503, "SERVICE_TEMPORARY_UNAVAILABLE", providers.ClassRetryLater},
	{"internal error", 500, "INTERNAL_SERVER_ERROR", providers.ClassRetryLater},
	{"server timed out", 504, "REQUEST_TIMED_OUT", providers.ClassUnknown},
	{"resource not found", 404, "OPERATION_FAILED_RESOURCE_NOT_FOUND", providers.ClassNotFound},
	{"bmc: instance status", 403, "OPERATION_DENIED_INSTANCE_STATUS", providers.ClassStatus},
	{"bmc: recycled", 403, "OPERATION_DENIED_INSTANCE_RECYCLED", providers.ClassStatus},
	{"bmc: bandwidth above maximum", 400, "INVALID_BANDWIDTH_VALUE_EXCEED_MAXIMUM", providers.ClassInvalid},
	{"bmc: not ByBandwidth", 403, "OPERATION_DENIED_INTERNET_CHARGE_TYPE_NOT_SUPPORT", providers.ClassInvalid},
	{"SDK spelling", 404, "Invalid.Instance.Not.Found", providers.ClassNotFound},
	{"SDK spelling, in progress", 403, "Operation.Failed.Instance.Bandwidth.Processing", providers.ClassInProgress},
	{"signature", 401, "AUTHFAILURE_SIGNATURE_FAILURE", providers.ClassAccount},
	{"unknown signature code", 403, "INVALID_SIGNATURE", providers.ClassAccount},
	{"unknown access key code", 403, "INVALID_ACCESS_KEY_ID", providers.ClassAccount},
	{"unknown balance code", 400, "OPERATION_DENIED_INSUFFICIENT_BALANCE", providers.ClassAccount},
	{"unknown code on 401", 401, "SOMETHING_ELSE", providers.ClassAccount},
	{"unknown code on 5xx", 502, "SOMETHING_ELSE", providers.ClassRetryLater},
	{"unknown code on 404", 404, "INVALID_ZONE_NOT_FOUND", providers.ClassInvalid},
	{"unknown code on 400", 400, "INVALID_PARAMETER", providers.ClassInvalid},
}

// errorServer answers every request with one error envelope.
func errorServer(t *testing.T, status int, code, msg, requestID string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"requestId": requestID, "code": code, "message": msg})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testClient(url string) *client {
	return &client{typeName: TypeBMC, url: url + "/api/v2/bmc", host: url[len("http://"):], service: "bmc",
		version: "2022-11-20", keyID: "id", password: "pw", timeout: 5 * time.Second,
		http: &http.Client{}, now: time.Now, log: zap.NewNop()}
}

// checkRefusal calls the API through the client and checks the error keeps
// everything the envelope said and has the wanted class.
func checkRefusal(t *testing.T, status int, code string, want providers.Class) {
	t.Helper()
	const msg, rid = "the API's own words", "T05992D0C-7E8B-4047-B0C0-780F2CD549D3"
	srv := errorServer(t, status, code, msg, rid)
	gotRID, err := testClient(srv.URL).call(context.Background(), actionModifyBandwidth, map[string]any{"instanceId": "i"}, nil)
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *providers.Error", err)
	}
	if pe.Class != want {
		t.Errorf("class = %s, want %s", pe.Class, want)
	}
	if !errors.Is(err, providertest.Sentinel(want)) {
		t.Errorf("errors.Is(err, sentinel of %s) = false", want)
	}
	if pe.Code != code || pe.Message != msg || pe.RequestID != rid || pe.HTTPStatus != status ||
		pe.Op != actionModifyBandwidth || pe.Provider != TypeBMC {
		t.Errorf("error lost the envelope: %+v", pe)
	}
	if gotRID != rid {
		t.Errorf("request id = %q, want %q", gotRID, rid)
	}
}

func TestSeedErrorCodes(t *testing.T) {
	for _, tt := range seedCodes {
		t.Run(tt.code, func(t *testing.T) {
			if _, ok := codeClasses[tt.code]; !ok {
				t.Errorf("%s is missing from codeClasses", tt.code)
			}
			checkRefusal(t, tt.status, tt.code, tt.want)
		})
	}
}

// TestSeedErrorCodesThroughTheFake has the signature-checking fake answer
// each seed error to a real Apply of the call that documents it, and checks
// what the executor gets: the class, the sentinel, the code, message,
// status and request ID as answered, and no change made.
func TestSeedErrorCodesThroughTheFake(t *testing.T) {
	for _, tt := range seedCodes {
		t.Run(tt.action+"/"+tt.code, func(t *testing.T) {
			var (
				f *fakeZenlayer
				c providers.Change
			)
			if tt.action == actionModifyType {
				f = newFake(t, serviceVM, fakeRules(0))
				f.addVM("vm-1", "c.1c2g", 10, false)
				c = providers.Change{Target: typ("vm-1"), Value: 2, Name: "c.2c4g", Token: "tok"}
			} else {
				f = newFake(t, serviceBMC, fakeRules(0))
				f.addBMC("bmc-1", 100, false)
				c = providers.Change{Target: bw("bmc-1"), Value: 200, Token: "tok"}
			}
			p := newTestProvider(t, f, fakePassword, zap.NewNop())
			f.injectNext(fakeAnswer{tt.status, tt.code, tt.desc, ""})
			_, err := p.Apply(ctxT(t), c)
			if !errors.Is(err, providertest.Sentinel(tt.want)) {
				t.Fatalf("err = %v, want class %s", err, tt.want)
			}
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not a *providers.Error", err)
			}
			if pe.Class != tt.want || pe.Op != tt.action || pe.HTTPStatus != tt.status || pe.Code != tt.code ||
				pe.Message != tt.desc || pe.Provider != f.svc.typeName {
				t.Errorf("got %+v, want class %s op %s status %d code %s message %q", pe, tt.want, tt.action, tt.status, tt.code, tt.desc)
			}
			if !strings.HasSuffix(pe.RequestID, "-7E8B-4047-B0C0-780F2CD549D3") {
				t.Errorf("RequestID = %q, want the fake's", pe.RequestID)
			}
			if got, _ := f.lastRequest(tt.action); got.Action != tt.action {
				t.Errorf("the fake never received %s", tt.action)
			}
			if n := f.changes(); n != 0 {
				t.Errorf("a refused Apply made %d changes", n)
			}
		})
	}
}

func TestOtherErrorCodes(t *testing.T) {
	for _, tt := range otherCodes {
		t.Run(tt.name, func(t *testing.T) {
			checkRefusal(t, tt.status, tt.code, tt.want)
		})
	}
}

// A gateway's page instead of the API's envelope.
func TestNonEnvelopeErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		want     providers.Class
		wantCode string
	}{
		{"bad gateway page", 502, "<html>Bad Gateway</html>", providers.ClassRetryLater, "HTTP502"},
		{"throttled by a proxy", 429, "slow down", providers.ClassRetryLater, "HTTP429"},
		{"bad request page", 400, "<html>nope</html>", providers.ClassInvalid, "HTTP400"},
		{"json without code", 500, `{"error":"x"}`, providers.ClassRetryLater, "HTTP500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			_, err := testClient(srv.URL).call(context.Background(), actionDescribeInstances, map[string]any{}, nil)
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *providers.Error", err)
			}
			if pe.Class != tt.want || pe.Code != tt.wantCode || pe.Message != tt.body || pe.RetryAfter != 7*time.Second {
				t.Errorf("got class %s code %q message %q retry-after %s; want %s %q %q 7s",
					pe.Class, pe.Code, pe.Message, pe.RetryAfter, tt.want, tt.wantCode, tt.body)
			}
		})
	}
}

// A 200 the client cannot read may have done its work: ClassUnknown.
func TestUnreadableSuccess(t *testing.T) {
	for _, body := range []string{"not json", `{"requestId":"T1"}`, `{"requestId":"T1","response":null}`, `{"requestId":"T1","response":{"orderNumber":{}}}`} {
		t.Run(body, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			var out orderResponse
			_, err := testClient(srv.URL).call(context.Background(), actionModifyBandwidth, map[string]any{}, &out)
			if got := providers.ClassOf(err); got != providers.ClassUnknown {
				t.Errorf("class = %s (%v), want unknown", got, err)
			}
		})
	}
}

func TestOrderNumberStringOrNumber(t *testing.T) {
	for body, want := range map[string]string{
		`{"requestId":"T1","response":{"requestId":"T1","orderNumber":"A123"}}`:        "A123",
		`{"requestId":"T1","response":{"requestId":"T1","orderNumber":1234567654321}}`: "1234567654321",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(body))
		}))
		var out orderResponse
		rid, err := testClient(srv.URL).call(context.Background(), actionModifyBandwidth, map[string]any{}, &out)
		srv.Close()
		if err != nil || string(out.OrderNumber) != want || rid != "T1" {
			t.Errorf("body %s: order %q rid %q err %v; want %q", body, out.OrderNumber, rid, err, want)
		}
	}
}
