package zenlayer

import "testing"

// The published example of Zenlayer's signature guide (providers.md): a bare
// metal DescribeInstances, recomputed independently.
func TestSignatureVector(t *testing.T) {
	const (
		host        = "console.zenlayer.com"
		contentType = "application/json; charset=utf-8"
		body        = `{"pageSize":10,"pageNum":1,"zoneId":"HKG-A"}`
		timestamp   = 1673361177
		keyID       = "0D9UtpyKYcHxms5v"
		password    = "Gu5t9xGARNpq86cd98joQYCN3"
	)
	canonical := canonicalRequest(contentType, host, []byte(body))
	tests := []struct {
		name, got, want string
	}{
		{"body hash", sha256Hex([]byte(body)), "5f714687ba91c606d503467766151206392474accd137ffea6dce2420b67c29a"},
		{"canonical request", canonical,
			"POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:console.zenlayer.com\n\ncontent-type;host\n" +
				"5f714687ba91c606d503467766151206392474accd137ffea6dce2420b67c29a"},
		{"hashed canonical request", sha256Hex([]byte(canonical)), "29396f9dfa0f03820b931e8aa06e20cda197e73285ebd76aceb83f7dede493ee"},
		{"string to sign", stringToSign(timestamp, canonical),
			"ZC2-HMAC-SHA256\n1673361177\n29396f9dfa0f03820b931e8aa06e20cda197e73285ebd76aceb83f7dede493ee"},
		{"signature", signature(password, stringToSign(timestamp, canonical)),
			"efb356c32e55c781e10dc676da59462c22596d82e91c57803666243379555b2f"},
		{"authorization", Authorization(keyID, password, contentType, host, []byte(body), timestamp),
			"ZC2-HMAC-SHA256 Credential=0D9UtpyKYcHxms5v, SignedHeaders=content-type;host, " +
				"Signature=efb356c32e55c781e10dc676da59462c22596d82e91c57803666243379555b2f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got  %q\nwant %q", tt.got, tt.want)
			}
		})
	}
}

// Each signed input changes the signature: the body, the host (with its
// port), the content type, the timestamp and the password.
func TestSignatureCoversItsInputs(t *testing.T) {
	base := func() (string, string, string, []byte, int64) {
		return "pw", "application/json", "console.zenlayer.com", []byte(`{"a":1}`), 1700000000
	}
	pw, ct, host, body, ts := base()
	ref := Authorization("id", pw, ct, host, body, ts)
	variants := map[string]string{
		"password":     Authorization("id", "pw2", ct, host, body, ts),
		"content type": Authorization("id", pw, "application/json; charset=utf-8", host, body, ts),
		"host":         Authorization("id", pw, ct, "console.zenlayer.com:443", body, ts),
		"body":         Authorization("id", pw, ct, host, []byte(`{"a":2}`), ts),
		"timestamp":    Authorization("id", pw, ct, host, body, ts+1),
	}
	for name, got := range variants {
		if got == ref {
			t.Errorf("changing the %s left the signature unchanged", name)
		}
	}
}
