package huawei

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The SDK-HMAC-SHA256 scheme of Huawei Cloud's API gateway (AK/SK signing).
// The canonical request is
//
//	METHOD \n URI \n QUERY \n HEADERS \n SIGNED-HEADERS \n hex(sha256(body))
//
// where URI has every path segment percent-encoded and always ends in '/',
// QUERY is sorted and RFC 3986 encoded, and HEADERS is one
// "name:trimmed-value\n" line per signed header (so a blank line follows).
// The string to sign is "SDK-HMAC-SHA256\n" + X-Sdk-Date + "\n" +
// hex(sha256(canonical request)), and the signature is its hex HMAC-SHA256
// under the secret key.
const (
	signAlgorithm   = "SDK-HMAC-SHA256"
	sdkDateFormat   = "20060102T150405Z"
	headerSdkDate   = "X-Sdk-Date"
	headerDomainID  = "X-Domain-Id"
	headerAuthToken = "X-Auth-Token"
	headerRequestID = "X-Request-Id"
)

// secret holds a credential value behind a closure: fmt prints a func field
// as an address under every verb, and the String method covers a secret
// printed on its own. So a client or config dumped with %v, %#v or %s never
// shows the value (fmt does not call String on unexported fields).
type secret func() string

func newSecret(v string) secret { return func() string { return v } }

func (s secret) value() string {
	if s == nil {
		return ""
	}
	return s()
}

func (secret) String() string   { return "[redacted]" }
func (secret) GoString() string { return "[redacted]" }

// signer signs requests with an access key pair.
type signer struct {
	accessKey string
	secretKey secret
}

// sign sets X-Sdk-Date and Authorization on req, signing the host and every
// header already on req (content-type, x-domain-id, …) with body as the
// payload. Headers with '_' in their name are left unsigned, as the SDKs do:
// some proxies drop them.
func (s signer) sign(req *http.Request, body []byte, now time.Time) {
	req.Header.Set(headerSdkDate, now.UTC().Format(sdkDateFormat))
	signed := []string{"host"}
	for name := range req.Header {
		lower := strings.ToLower(name)
		if lower == "authorization" || lower == "host" || strings.Contains(lower, "_") {
			continue
		}
		signed = append(signed, lower)
	}
	sort.Strings(signed)
	s.signWith(req, body, signed)
}

// signWith signs req over exactly the given headers (lower case, sorted). The
// request must already carry X-Sdk-Date.
func (s signer) signWith(req *http.Request, body []byte, signed []string) {
	date := req.Header.Get(headerSdkDate)
	canonical := canonicalRequest(req.Method, req.URL.Path, req.URL.Query(), req.Header, requestHost(req), signed, hashHex(body))
	sig := hmacHex(s.secretKey.value(), stringToSign(canonical, date))
	req.Header.Set("Authorization", authorization(s.accessKey, signed, sig))
}

// requestHost is the host the server will see: req.Host when set, else the
// URL's host (with its port, as it goes on the wire).
func requestHost(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

func authorization(accessKey string, signed []string, signature string) string {
	return signAlgorithm + " Access=" + accessKey + ", SignedHeaders=" + strings.Join(signed, ";") + ", Signature=" + signature
}

// canonicalRequest builds the canonical request. headers may use any case;
// host is taken from the host argument, not from headers.
func canonicalRequest(method, path string, query url.Values, headers http.Header, host string, signed []string, bodyHash string) string {
	return strings.Join([]string{
		method,
		canonicalURI(path),
		canonicalQuery(query),
		canonicalHeaders(headers, host, signed),
		strings.Join(signed, ";"),
		bodyHash,
	}, "\n")
}

func canonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = escapeRFC3986(s)
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	return uri
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, escapeRFC3986(k)+"="+escapeRFC3986(v))
		}
	}
	return strings.Join(parts, "&")
}

// canonicalHeaders returns one "name:value" line per signed header and value,
// each ending in '\n'.
func canonicalHeaders(h http.Header, host string, signed []string) string {
	lower := make(map[string][]string, len(h))
	for k, v := range h {
		lk := strings.ToLower(k)
		lower[lk] = append(lower[lk], v...)
	}
	var b strings.Builder
	for _, name := range signed {
		vals := lower[name]
		if name == "host" {
			vals = []string{host}
		}
		vals = append([]string(nil), vals...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func stringToSign(canonical, sdkDate string) string {
	return signAlgorithm + "\n" + sdkDate + "\n" + hashHex([]byte(canonical))
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacHex(key, data string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(data))
	return hex.EncodeToString(m.Sum(nil))
}

// escapeRFC3986 percent-encodes every byte but the unreserved characters
// A–Z a–z 0–9 - _ . ~, with upper-case hex (a space is %20, never '+').
func escapeRFC3986(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
