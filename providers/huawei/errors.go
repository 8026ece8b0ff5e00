package huawei

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/specscale/specscale/providers"
)

// codeInfo is what we know of one documented error code.
type codeInfo struct {
	Class  providers.Class
	Status int    // the HTTP status the docs give, 0 when they give none
	Source string // where the code is documented
	Meta   string // what it means, briefly
}

const (
	srcAPIGW = "API signing guide, APIGW error codes"
	srcAntiD = "AAD API reference, error codes (Anti-DDoS section)"
	srcTF    = "terraform-provider-huaweicloud: GET /v2/aad/instances/{id} answers it for a missing instance"
	srcCBC   = "Huawei billing center (CBC) error codes; that AAD's order path passes them through is UNVERIFIED"
)

// knownCodes maps every error code the adapter recognises to its class. A
// code missing here is classified by HTTP status, then by a few words of
// its description (see classify).
var knownCodes = map[string]codeInfo{
	// API gateway. Every Huawei API sits behind it.
	"APIGW.0101": {providers.ClassInvalid, 404, srcAPIGW, "the API does not exist: wrong endpoint, path or method"},
	"APIGW.0201": {providers.ClassInvalid, 400, srcAPIGW, "API request error (with 502/504: backend unavailable or timed out)"},
	"APIGW.0301": {providers.ClassAccount, 401, srcAPIGW, "incorrect IAM authentication information (bad signature, unknown AK, expired token; AK locked 5 min after 5 failures)"},
	"APIGW.0302": {providers.ClassAccount, 403, srcAPIGW, "the IAM user is not authorized to access the API"},
	"APIGW.0303": {providers.ClassAccount, 401, srcAPIGW, "incorrect app authentication information"},
	"APIGW.0304": {providers.ClassAccount, 403, srcAPIGW, "the app is not authorized to access the API"},
	"APIGW.0305": {providers.ClassAccount, 401, srcAPIGW, "incorrect authentication information"},
	"APIGW.0306": {providers.ClassAccount, 403, srcAPIGW, "API access denied"},
	"APIGW.0307": {providers.ClassAccount, 401, srcAPIGW, "the token must be updated"},
	"APIGW.0308": {providers.ClassRetryLater, 429, srcAPIGW, "the throttling threshold has been reached"},
	"APIGW.0310": {providers.ClassAccount, 403, srcAPIGW, "the project is unavailable"},
	"APIGW.0401": {providers.ClassAccount, 403, srcAPIGW, "unknown client IP address"},
	"APIGW.0402": {providers.ClassAccount, 403, srcAPIGW, "the IP address is not authorized to access the API"},
	"APIGW.0502": {providers.ClassAccount, 405, srcAPIGW, "the app has been frozen (insufficient balance)"},
	"APIGW.0601": {providers.ClassRetryLater, 500, srcAPIGW, "internal server error"},
	"APIGW.0602": {providers.ClassInvalid, 400, srcAPIGW, "bad request"},
	"APIGW.0613": {providers.ClassRetryLater, 503, srcAPIGW, "IAM is currently unavailable"},
	"APIGW.0801": {providers.ClassAccount, 403, srcAPIGW, "the service is unavailable in the selected region"},
	"APIGW.0802": {providers.ClassAccount, 403, srcAPIGW, "the IAM user is forbidden in the selected region"},
	// The gateway's older prefix, still seen in the FAQs.
	"APIG.0301": {providers.ClassAccount, 401, "API Gateway FAQ (older APIG prefix)", "incorrect IAM authentication information"},
	"APIG.0308": {providers.ClassRetryLater, 429, "API Gateway FAQ (older APIG prefix)", "the throttling threshold has been reached"},

	// The AAD API reference's error-code page.
	"Anti-DDoS.10000001": {providers.ClassInvalid, 400, srcAntiD, "invalid request message"},
	"Anti-DDoS.10000002": {providers.ClassAccount, 403, srcAntiD, "the token in the request failed authentication"},
	"Anti-DDoS.10000004": {providers.ClassAccount, 401, srcAntiD, "public test service denied"},
	"Anti-DDoS.10000009": {providers.ClassAccount, 403, srcAntiD, "the account is restricted"},
	"Anti-DDoS.10000010": {providers.ClassAccount, 403, srcAntiD, "the account is frozen"},
	"Anti-DDoS.10000012": {providers.ClassAccount, 403, srcAntiD, "unknown user type"},
	"Anti-DDoS.10000030": {providers.ClassAccount, 403, srcAntiD, "real-name authentication required"},
	"Anti-DDoS.10001009": {providers.ClassAccount, 403, srcAntiD, "the operation permission is restricted"},
	"Anti-DDoS.11000000": {providers.ClassRetryLater, 500, srcAntiD, "internal system exception"},

	// AAD's own instance lookup.
	"AAD.10010035": {providers.ClassNotFound, 400, srcTF, "the instance does not exist"},

	// Billing center: an AAD upgrade is an order.
	"CBC.3002":     {providers.ClassStatus, 0, srcCBC, "the resource has been locked"},
	"CBC.3016":     {providers.ClassAccount, 0, srcCBC, "expired resources exist (renew first)"},
	"CBC.3144":     {providers.ClassInProgress, 0, srcCBC, "an order for this resource is in progress"},
	"CBC.30050009": {providers.ClassNotFound, 0, srcCBC, "the resource does not exist or was deleted after expiring"},
	"CBC.30050010": {providers.ClassAccount, 0, srcCBC, "the resource is in an unpaid order (pay or cancel it)"},
	"CBC.30050011": {providers.ClassInProgress, 0, srcCBC, "the resource is being unsubscribed or changed"},
}

// successCodes are codes the Anti-DDoS pages document with HTTP 200.
var successCodes = map[string]bool{"Anti-DDoS.0": true, "Anti-DDoS.10000000": true}

// classify sorts a refusal. Order matters: throttling and server faults
// first (whatever the code: APIGW.0201 is an invalid request with 400 and
// an unavailable backend with 502), then the documented code, then the
// HTTP status, then — for undocumented codes only — a few words of the
// description, since AAD documents almost none of its own codes.
func classify(status int, code, desc string) providers.Class {
	if status == http.StatusTooManyRequests || status >= 500 {
		return providers.ClassRetryLater
	}
	if info, ok := knownCodes[code]; ok {
		return info.Class
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return providers.ClassAccount
	case http.StatusNotFound:
		return providers.ClassNotFound
	case http.StatusConflict:
		return providers.ClassInProgress
	}
	d := strings.ToLower(desc)
	switch {
	case containsAny(d, "throttl", "too many requests", "rate limit"):
		return providers.ClassRetryLater
	case containsAny(d, "in progress", "being processed", "is processing"):
		return providers.ClassInProgress
	case containsAny(d, "frozen", "arrears", "expired", "insufficient balance", "unpaid"):
		return providers.ClassAccount
	case containsAny(d, "not exist", "not found", "does not exist"):
		return providers.ClassNotFound
	}
	return providers.ClassInvalid
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// errorBody is every shape of Huawei error body we read: AAD's
// {error_code, error_description}, the gateway's and most services'
// {error_code, error_msg, request_id}, and IAM's {error: {code, message}}.
type errorBody struct {
	ErrorCode        string `json:"error_code"`
	ErrorDescription string `json:"error_description"`
	ErrorMsg         string `json:"error_msg"`
	RequestID        string `json:"request_id"`
	Error            *struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	} `json:"error"`
}

// parsed returns the code, message and request ID of an error body, and
// whether it had a code at all.
func (b errorBody) parsed() (code, msg, reqID string, ok bool) {
	code, msg, reqID = b.ErrorCode, b.ErrorDescription, b.RequestID
	if msg == "" {
		msg = b.ErrorMsg
	}
	if code == "" && b.Error != nil {
		code = strings.Trim(string(b.Error.Code), `"`)
		if msg == "" {
			msg = b.Error.Message
		}
	}
	return code, msg, reqID, code != ""
}

const maxMessage = 512

// apiError builds the classified error for a non-200 answer, or for a 200
// whose body carries an error code instead of a result. Message comes from
// the body only, so it never holds a credential we sent.
func apiError(op string, resp *http.Response, body []byte, now time.Time) *providers.Error {
	pe := &providers.Error{
		Provider:   TypeName,
		Op:         op,
		HTTPStatus: resp.StatusCode,
		RequestID:  resp.Header.Get(headerRequestID),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now),
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		if code, msg, reqID, ok := eb.parsed(); ok {
			pe.Code, pe.Message = code, truncate(msg)
			if pe.RequestID == "" {
				pe.RequestID = reqID
			}
		}
	}
	if pe.Code == "" {
		// Not a Huawei error body (a proxy's HTML page, an empty body).
		pe.Code = "HTTP" + strconv.Itoa(resp.StatusCode)
		pe.Message = truncate(string(bytes.TrimSpace(body)))
	}
	pe.Class = classify(resp.StatusCode, pe.Code, pe.Message)
	return pe
}

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	s = s[:maxMessage]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// refusal is an error the adapter raises itself, before or instead of a
// call. It carries no provider code: the provider said nothing.
func refusal(class providers.Class, op, msg string) *providers.Error {
	return &providers.Error{Class: class, Provider: TypeName, Op: op, Message: msg}
}
