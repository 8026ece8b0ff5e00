package ecsfake

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// This file holds the two request-signing schemes of Alibaba Cloud's RPC
// APIs, as the fake verifies them. The adapter never signs: the official SDK
// does. Both schemes are tested against the published vectors.

// PercentEncode encodes s as both schemes require: every byte but
// A-Z a-z 0-9 - _ . ~ becomes %XX with upper-case hex. A space is %20, never
// '+', which is why the fake must decode a query and encode it again rather
// than sign the wire form.
func PercentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
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

// CanonicalQuery sorts params by name (then value) and joins the
// percent-encoded name=value pairs with '&'. Names listed in skip are left
// out (V1 leaves out Signature).
func CanonicalQuery(params url.Values, skip ...string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		skipped := false
		for _, s := range skip {
			if k == s {
				skipped = true
			}
		}
		if !skipped {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var pairs []string
	for _, k := range names {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			pairs = append(pairs, PercentEncode(k)+"="+PercentEncode(v))
		}
	}
	return strings.Join(pairs, "&")
}

// V1StringToSign is METHOD&%2F&pe(canonical query) of the HMAC-SHA1 scheme
// (SignatureVersion 1.0; the SDK calls it "v2"). Signature is left out.
func V1StringToSign(method string, params url.Values) string {
	return method + "&" + PercentEncode("/") + "&" + PercentEncode(CanonicalQuery(params, "Signature"))
}

// V1Signature is Base64(HMAC-SHA1(secret + "&", stringToSign)).
func V1Signature(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// V3Algorithm is the name of the V3 scheme in the Authorization header.
const V3Algorithm = "ACS3-HMAC-SHA256"

// V3CanonicalRequest builds the V3 canonical request: method, path, the
// canonical query, one "name:value\n" line per signed header (names lower
// case, values trimmed, in the order of signed, which must be sorted), the
// signed names joined by ';', and the hex SHA-256 of the body.
func V3CanonicalRequest(method, path string, query url.Values, headers map[string]string, signed []string, payloadHash string) string {
	if path == "" {
		path = "/"
	}
	var h strings.Builder
	for _, name := range signed {
		h.WriteString(name)
		h.WriteByte(':')
		h.WriteString(strings.TrimSpace(headers[name]))
		h.WriteByte('\n')
	}
	return strings.Join([]string{method, path, CanonicalQuery(query), h.String(), strings.Join(signed, ";"), payloadHash}, "\n")
}

// HashHex is the hex SHA-256 of b.
func HashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// V3StringToSign is "ACS3-HMAC-SHA256\n" + hex(sha256(canonical)).
func V3StringToSign(canonical string) string {
	return V3Algorithm + "\n" + HashHex([]byte(canonical))
}

// V3Signature is hex(HMAC-SHA256(secret, stringToSign)); no '&' is added to
// the secret, unlike V1.
func V3Signature(secret, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// V3Authorization parses "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex".
func V3Authorization(h string) (accessKeyID string, signed []string, signature string, ok bool) {
	rest, found := strings.CutPrefix(h, V3Algorithm+" ")
	if !found {
		return "", nil, "", false
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			accessKeyID = v
		case "SignedHeaders":
			if v != "" {
				signed = strings.Split(v, ";")
			}
		case "Signature":
			signature = v
		}
	}
	return accessKeyID, signed, signature, accessKeyID != "" && len(signed) > 0 && signature != ""
}
