package aliyun

import (
	"testing"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/specscale/specscale/providers/aliyun/ecsfake"
)

// The adapter signs through the official SDK, so the SDK's own signers —
// the ones its RPC calls use (GetRPCSignature for V1, GetAuthorization for
// V3) — must reproduce every published vector of providers.md, as the
// fake's verifier does (ecsfake/sign_test.go).

func TestSDKSignerV1Vectors(t *testing.T) {
	tests := []struct {
		name   string
		method string
		params map[string]string
		secret string
		want   string
	}{
		{
			name:   "DescribeRegions GET",
			method: "GET",
			params: map[string]string{
				"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
				"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
				"SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
			},
			secret: "testsecret",
			want:   "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
		},
		{
			name:   "openapi-util test ok",
			method: "",
			params: map[string]string{"test": "ok"},
			secret: "accessKeySecret",
			want:   "jHx/oHoHNrbVfhncHEvPdHXZwHU=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dara.StringValue(openapiutil.GetRPCSignature(ptrs(tt.params), dara.String(tt.method), dara.String(tt.secret)))
			if got != tt.want {
				t.Errorf("SDK V1 signature = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSDKSignerV3Vector(t *testing.T) {
	const (
		sig  = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
		want = "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;" +
			"x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=" + sig
	)
	payload := ecsfake.HashHex(nil)
	req := &dara.Request{
		Method:   dara.String("POST"),
		Pathname: dara.String("/"),
		Query: ptrs(map[string]string{
			"ImageId":  "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
			"RegionId": "cn-shanghai",
		}),
		Headers: ptrs(map[string]string{
			"host":                  "ecs.cn-shanghai.aliyuncs.com",
			"x-acs-action":          "RunInstances",
			"x-acs-content-sha256":  payload,
			"x-acs-date":            "2023-10-26T10:22:32Z",
			"x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
			"x-acs-version":         "2014-05-26",
		}),
	}
	got := dara.StringValue(openapiutil.GetAuthorization(req, dara.String("ACS3-HMAC-SHA256"), dara.String(payload),
		dara.String("YourAccessKeyId"), dara.String("YourAccessKeySecret")))
	if got != want {
		t.Errorf("SDK V3 Authorization =\n  %s\nwant\n  %s", got, want)
	}
}

// ptrs is the SDK's map shape.
func ptrs(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = dara.String(v)
	}
	return out
}
