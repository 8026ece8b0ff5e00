package ecsfake

import (
	"net/url"
	"testing"
)

// The vectors are those published in providers.md (Alibaba's signature
// guides and openapi-util's own tests); each is reproduced exactly.

func TestV1Vectors(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		params     url.Values
		secret     string
		wantToSign string
		wantSig    string
	}{
		{
			name:   "DescribeRegions GET",
			method: "GET",
			params: url.Values{
				"AccessKeyId": {"testid"}, "Action": {"DescribeRegions"}, "Format": {"XML"},
				"SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {"3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
				"SignatureVersion": {"1.0"}, "Timestamp": {"2016-02-23T12:46:24Z"}, "Version": {"2014-05-26"},
			},
			secret: "testsecret",
			wantToSign: "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1" +
				"%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0" +
				"%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
			wantSig: "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
		},
		{
			name:       "openapi-util test ok",
			method:     "",
			params:     url.Values{"test": {"ok"}},
			secret:     "accessKeySecret",
			wantToSign: "&%2F&test%3Dok",
			wantSig:    "jHx/oHoHNrbVfhncHEvPdHXZwHU=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := V1StringToSign(tt.method, tt.params)
			if sts != tt.wantToSign {
				t.Errorf("string to sign\n got %s\nwant %s", sts, tt.wantToSign)
			}
			if got := V1Signature(tt.secret, sts); got != tt.wantSig {
				t.Errorf("signature = %s, want %s", got, tt.wantSig)
			}
		})
	}
}

func TestV3Vector(t *testing.T) {
	query := url.Values{
		"ImageId":  {"win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"},
		"RegionId": {"cn-shanghai"},
	}
	emptyHash := HashHex(nil)
	headers := map[string]string{
		"host":                  "ecs.cn-shanghai.aliyuncs.com",
		"x-acs-action":          "RunInstances",
		"x-acs-content-sha256":  emptyHash,
		"x-acs-date":            "2023-10-26T10:22:32Z",
		"x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
		"x-acs-version":         "2014-05-26",
	}
	signed := []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}
	canonical := V3CanonicalRequest("POST", "/", query, headers, signed, emptyHash)
	if got, want := HashHex([]byte(canonical)), "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"; got != want {
		t.Errorf("hashed canonical request = %s, want %s\ncanonical request:\n%s", got, want, canonical)
	}
	if got, want := V3Signature("YourAccessKeySecret", V3StringToSign(canonical)), "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"; got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
	auth := V3Algorithm + " Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
	ak, gotSigned, sig, ok := V3Authorization(auth)
	if !ok || ak != "YourAccessKeyId" || len(gotSigned) != len(signed) || sig != "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0" {
		t.Errorf("V3Authorization(%q) = %q %q %q %v", auth, ak, gotSigned, sig, ok)
	}
}

func TestPercentEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"*", "%2A"},
		{"~-_.", "~-_."},
		{"中", "%E4%B8%AD"},
		{`["i-1"]`, "%5B%22i-1%22%5D"},
	}
	for _, tt := range tests {
		if got := PercentEncode(tt.in); got != tt.want {
			t.Errorf("PercentEncode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
