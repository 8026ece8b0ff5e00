package huawei

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The published SDK-HMAC-SHA256 vectors (providers.md): the API signing
// guide's example and the two cases of the official Go SDK's
// core/auth/signer/signer_test.go.
func TestSignerVectors(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		url       string
		headers   map[string]string
		body      string
		date      time.Time
		ak, sk    string
		signed    []string // nil: let sign choose (host and every header set)
		wantHash  string   // hex sha256 of the canonical request, when published
		wantSig   string
		wantAuthz string
	}{
		{
			name:   "signing guide GET with query",
			method: http.MethodGet,
			url:    "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
			headers: map[string]string{
				"Content-Type": "application/json",
			},
			date:     time.Date(2019, 11, 15, 3, 36, 55, 0, time.UTC),
			ak:       "QTWAOYTTINDUT2QVKYUC",
			sk:       "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
			wantHash: "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a",
			wantSig:  "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
			wantAuthz: "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, " +
				"Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
		},
		{
			name:    "SDK test1 GET",
			method:  http.MethodGet,
			url:     "https://example.huaweicloud.com/path?limit=1",
			date:    time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC),
			ak:      "AccessKey",
			sk:      "SecretKey",
			signed:  []string{"x-sdk-date"},
			wantSig: "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624",
			wantAuthz: "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, " +
				"Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624",
		},
		{
			name:    "SDK test2 POST with JSON body",
			method:  http.MethodPost,
			url:     "https://example.huaweicloud.com/path?key=value",
			headers: map[string]string{"Content-Type": "application/json"},
			body:    "{\"Name\":\"test\",\"Id\":1}\n",
			date:    time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC),
			ak:      "AccessKey",
			sk:      "SecretKey",
			signed:  []string{"x-sdk-date"},
			wantSig: "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59",
			wantAuthz: "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, " +
				"Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, bytes.NewReader([]byte(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			s := signer{accessKey: tt.ak, secretKey: newSecret(tt.sk)}
			if tt.signed == nil {
				s.sign(req, []byte(tt.body), tt.date)
			} else {
				req.Header.Set(headerSdkDate, tt.date.Format(sdkDateFormat))
				s.signWith(req, []byte(tt.body), tt.signed)
			}
			if got := req.Header.Get(headerSdkDate); got != tt.date.Format(sdkDateFormat) {
				t.Errorf("X-Sdk-Date = %q, want %q", got, tt.date.Format(sdkDateFormat))
			}
			if got := req.Header.Get("Authorization"); got != tt.wantAuthz {
				t.Errorf("Authorization =\n  %s\nwant\n  %s", got, tt.wantAuthz)
			}
			signed := tt.signed
			if signed == nil {
				signed = []string{"content-type", "host", "x-sdk-date"}
			}
			canonical := canonicalRequest(req.Method, req.URL.Path, req.URL.Query(), req.Header, requestHost(req), signed, hashHex([]byte(tt.body)))
			if tt.wantHash != "" {
				if got := hashHex([]byte(canonical)); got != tt.wantHash {
					t.Errorf("hashed canonical request = %s, want %s\ncanonical:\n%s", got, tt.wantHash, canonical)
				}
			}
			if got := hmacHex(tt.sk, stringToSign(canonical, tt.date.Format(sdkDateFormat))); got != tt.wantSig {
				t.Errorf("signature = %s, want %s", got, tt.wantSig)
			}
		})
	}
}

func TestCanonicalParts(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"uri gets a trailing slash", canonicalURI("/v2/aad/instance"), "/v2/aad/instance/"},
		{"uri keeps one trailing slash", canonicalURI("/v2/aad/"), "/v2/aad/"},
		{"empty uri is /", canonicalURI(""), "/"},
		{"uri segments are escaped", canonicalURI("/v2/aad/instances/a b+c"), "/v2/aad/instances/a%20b%2Bc/"},
		{"query is sorted and escaped", canonicalQuery(map[string][]string{"b": {"2", "1"}, "a": {"x y/z"}}), "a=x%20y%2Fz&b=1&b=2"},
		{"escape keeps unreserved", escapeRFC3986("AZaz09-_.~"), "AZaz09-_.~"},
		{"escape multi-byte", escapeRFC3986("一 (&=?!#%.*)"), "%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"},
		{"headers trimmed, one line each", canonicalHeaders(http.Header{"X-Domain-Id": {"  d1 "}}, "h:1", []string{"host", "x-domain-id"}), "host:h:1\nx-domain-id:d1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestSignSkipsUnderscoreHeadersAndSignsHost(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:8080/v2/aad/instance", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerDomainID, "dom")
	req.Header["TEST_UNDERSCORE"] = []string{"x"}
	signer{accessKey: "AK", secretKey: newSecret("SK")}.sign(req, nil, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	authz := req.Header.Get("Authorization")
	if !strings.Contains(authz, "SignedHeaders=content-type;host;x-domain-id;x-sdk-date,") {
		t.Errorf("Authorization %q: want SignedHeaders=content-type;host;x-domain-id;x-sdk-date", authz)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := signer{accessKey: "AK", secretKey: newSecret("very-secret-value")}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{s, &s, s.secretKey} {
			if got := fmt.Sprintf(format, v); strings.Contains(got, "very-secret-value") {
				t.Errorf("Sprintf(%q, %T) = %q shows the secret key", format, v, got)
			}
		}
	}
}
