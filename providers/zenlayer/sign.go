package zenlayer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Algorithm is Zenlayer Cloud API 2.0's signature method, sent in
// X-ZC-Signature-Method and at the head of the Authorization header.
const Algorithm = "ZC2-HMAC-SHA256"

// signedHeaders is fixed by the API: only content-type and host are signed.
// X-ZC-Action and X-ZC-Version are not, so the body hash is what binds a
// signature to a request.
const signedHeaders = "content-type;host"

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// canonicalRequest is the request as the API hashes it: method, URI "/", an
// empty query, the two signed headers (each line ending "\n"), the signed
// header names and the hex SHA-256 of the body, joined by "\n". contentType
// and host are signed exactly as sent.
func canonicalRequest(contentType, host string, body []byte) string {
	return "POST\n/\n\n" +
		"content-type:" + contentType + "\n" +
		"host:" + host + "\n" +
		"\n" +
		signedHeaders + "\n" +
		sha256Hex(body)
}

// stringToSign binds the hashed canonical request to the X-ZC-Timestamp.
func stringToSign(timestamp int64, canonical string) string {
	return Algorithm + "\n" + strconv.FormatInt(timestamp, 10) + "\n" + sha256Hex([]byte(canonical))
}

// signature is hex(HMAC-SHA256(password, stringToSign)).
func signature(password, sts string) string {
	m := hmac.New(sha256.New, []byte(password))
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

// Authorization returns the Authorization header value for a request with
// the given content type, host (as sent, with any port), body and
// X-ZC-Timestamp, signed with the access key pair. The result holds the
// key ID and a signature, never the password.
func Authorization(keyID, password, contentType, host string, body []byte, timestamp int64) string {
	sig := signature(password, stringToSign(timestamp, canonicalRequest(contentType, host, body)))
	return Algorithm + " Credential=" + keyID + ", SignedHeaders=" + signedHeaders + ", Signature=" + sig
}
