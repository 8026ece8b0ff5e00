package zenlayer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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
	status int
	code   string
	want   providers.Class
}{
	// BMC ModifyInstanceBandwidth.
	{404, "INVALID_INSTANCE_NOT_FOUND", providers.ClassNotFound},
	{403, "OPERATION_DENIED_INSTANCE_NOT_RUNNING", providers.ClassStatus},
	{400, "INVALID_PARAMETER_BANDWIDTH_EXCEED", providers.ClassInvalid},
	{403, "OPERATION_FAILED_INSTANCE_BANDWIDTH_PROCESSING", providers.ClassInProgress},
	// VM ModifyInstanceType.
	{404, "INVALID_INSTANCE_NOT_FOUND", providers.ClassNotFound},
	{403, "INVALID_INSTANCE_TYPE_NOT_CHANGED", providers.ClassInvalid},
	{400, "OPERATION_FAILED_INSTANCE_TYPE_UNSUPPORTED", providers.ClassInvalid},
	{403, "OPERATION_DENIED_INSTANCE_EXIST_PLAN", providers.ClassQuota},
	{403, "OPERATION_DENIED_INSTANCE_PLAN_PROCESSING", providers.ClassInProgress},
	{400, "UNSUPPORTED_OPERATION_INSTANCE_STATUS", providers.ClassStatus},
	{400, "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT", providers.ClassInvalid},
	{400, "UNSUPPORTED_OPERATION_INSTANCE_BEING_RECYCLE", providers.ClassStatus},
	{404, "INVALID_PRODUCT_NOT_FOUND", providers.ClassNotFound},
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
