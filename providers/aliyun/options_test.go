package aliyun

import (
	"context"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
)

// account is a valid account whose credentials live in environment
// variables that are not set: Validate must not read them.
func account(t *testing.T, options string) providers.Account {
	return providers.Account{
		Name: "ali", Type: TypeName, Region: "cn-hangzhou", Timeout: 10 * time.Second,
		Credentials: map[string]providers.SecretRef{
			CredAccessKeyID:     {Env: "SPECSCALE_TEST_UNSET_AK_ID"},
			CredAccessKeySecret: {Env: "SPECSCALE_TEST_UNSET_AK_SECRET"},
		},
		Options: optionsNode(t, options), File: "specscale.yaml", Path: "providers[0]",
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(a *providers.Account)
		options string
		want    string
	}{
		{"minimal", nil, "", ""},
		{"every option", nil, "auto_pay: false\nsignature: v2\npostpaid_bandwidth_api: ModifyInstanceSpec", ""},
		{"security token", func(a *providers.Account) {
			a.Credentials[CredSecurityToken] = providers.SecretRef{File: "/run/secrets/sts"}
		}, "", ""},
		{"https endpoint", func(a *providers.Account) { a.Endpoint = "ecs-cn-hangzhou.aliyuncs.com" }, "", ""},
		{"loopback http endpoint", func(a *providers.Account) { a.Endpoint = "http://127.0.0.1:8080" }, "", ""},
		{"no timeout", func(a *providers.Account) { a.Timeout = 0 }, "", ""},
		{"no region", func(a *providers.Account) { a.Region = "" }, "", "specscale.yaml: providers[0].region: required, the ECS region ID such as cn-hangzhou"},
		{"bad region", func(a *providers.Account) { a.Region = "CN_Hangzhou" }, "", `specscale.yaml: providers[0].region: "CN_Hangzhou" is not an ECS region ID such as cn-hangzhou`},
		{"http to a remote host", func(a *providers.Account) { a.Endpoint = "http://ecs.example.com" }, "",
			`specscale.yaml: providers[0].endpoint: "http://ecs.example.com": plain http only to a loopback host (tests); use https`},
		{"endpoint with a path", func(a *providers.Account) { a.Endpoint = "https://ecs.aliyuncs.com/api" }, "",
			`specscale.yaml: providers[0].endpoint: "https://ecs.aliyuncs.com/api": want host[:port] or http(s)://host[:port]`},
		{"endpoint scheme", func(a *providers.Account) { a.Endpoint = "ftp://ecs.aliyuncs.com" }, "",
			`specscale.yaml: providers[0].endpoint: "ftp://ecs.aliyuncs.com": scheme "ftp", want https (or http to loopback)`},
		{"no secret", func(a *providers.Account) { delete(a.Credentials, CredAccessKeySecret) }, "", "specscale.yaml: providers[0].credentials.access_key_secret: required"},
		{"unknown credential", func(a *providers.Account) { a.Credentials["secret_access_key"] = providers.SecretRef{Env: "X"} }, "",
			"specscale.yaml: providers[0].credentials.secret_access_key: unknown credential (want access_key_id, access_key_secret and optionally security_token)"},
		{"credential from two places", func(a *providers.Account) {
			a.Credentials[CredAccessKeyID] = providers.SecretRef{Env: "A", File: "/b"}
		}, "", "specscale.yaml: providers[0].credentials.access_key_id: set env or file, not both"},
		{"negative timeout", func(a *providers.Account) { a.Timeout = -time.Second }, "", "specscale.yaml: providers[0].timeout: -1s must not be negative"},
		{"unknown option", nil, "autopay: true", `specscale.yaml:1:1: providers[0].options.autopay: unknown field (did you mean "auto_pay"?)`},
		{"auto_pay not a bool", nil, "auto_pay: yes please", `specscale.yaml:1:11: providers[0].options.auto_pay: want true or false, got "yes please"`},
		{"signature", nil, "signature: v1", `specscale.yaml:1:12: providers[0].options.signature: want v3 or v2, got "v1"`},
		{"postpaid_bandwidth_api", nil, "postpaid_bandwidth_api: ModifyPrepayInstanceSpec",
			`specscale.yaml:1:25: providers[0].options.postpaid_bandwidth_api: want ModifyInstanceNetworkSpec or ModifyInstanceSpec, got "ModifyPrepayInstanceSpec"`},
		{"every problem at once", func(a *providers.Account) { a.Region = ""; delete(a.Credentials, CredAccessKeyID) }, "signature: v1",
			"specscale.yaml: providers[0].region: required, the ECS region ID such as cn-hangzhou\nspecscale.yaml: providers[0].credentials.access_key_id: required\n" +
				`specscale.yaml:1:12: providers[0].options.signature: want v3 or v2, got "v1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := account(t, tt.options)
			if tt.edit != nil {
				tt.edit(&a)
			}
			err := Validate(a)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	a := account(t, "")
	a.Timeout = 0
	s, err := settingsOf(a)
	if err != nil {
		t.Fatal(err)
	}
	want := settings{region: "cn-hangzhou", protocol: "https", autoPay: true, signature: SignatureV3, postpaidAPI: opNetworkSpec, timeout: DefaultTimeout}
	if s != want {
		t.Errorf("settings = %+v, want %+v", s, want)
	}
}

// TestNewResolvesSecrets: New, unlike Validate, reads the credentials, and
// says which one is missing without any value.
func TestNewResolvesSecrets(t *testing.T) {
	_, err := New(context.Background(), account(t, ""), nil)
	want := `provider "ali": credentials.access_key_id: environment variable SPECSCALE_TEST_UNSET_AK_ID is not set`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestEndpoint: without an override the SDK's region map chooses the host.
func TestEndpoint(t *testing.T) {
	tests := []struct {
		region, endpoint, want string
	}{
		{"cn-hangzhou", "", "ecs-cn-hangzhou.aliyuncs.com"},
		{"cn-wuhan", "", "ecs.aliyuncs.com"},
		{"eu-central-1", "", "ecs.eu-central-1.aliyuncs.com"},
		{"cn-shanghai", "ecs-vpc.cn-shanghai.aliyuncs.com", "ecs-vpc.cn-shanghai.aliyuncs.com"},
		{"cn-shanghai", "http://127.0.0.1:8080", "127.0.0.1:8080"},
	}
	t.Setenv("SPECSCALE_TEST_AK_ID", "id")
	t.Setenv("SPECSCALE_TEST_AK_SECRET", "secret")
	for _, tt := range tests {
		a := account(t, "")
		a.Credentials = map[string]providers.SecretRef{
			CredAccessKeyID: {Env: "SPECSCALE_TEST_AK_ID"}, CredAccessKeySecret: {Env: "SPECSCALE_TEST_AK_SECRET"}}
		a.Region, a.Endpoint = tt.region, tt.endpoint
		p, err := New(context.Background(), a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.endpoint != tt.want {
			t.Errorf("region %s endpoint %q: host %q, want %q", tt.region, tt.endpoint, p.endpoint, tt.want)
		}
	}
}

func TestCapabilities(t *testing.T) {
	caps := Capabilities()
	if caps.Type != TypeName || len(caps.Resources) != 3 {
		t.Fatalf("caps = %+v", caps)
	}
	down := providers.DowngradeRule{PerCycle: 3, PrepaidOnly: true, FreezeAfterDowngrade: true}
	out := caps.Resources[providers.BandwidthOut]
	if out.Min != 0 || out.Max != 200 || !out.Integer || out.ChangeLock != 5*time.Minute || out.Downgrade != down || out.Async ||
		out.Temporary == nil || out.Temporary.MinWindow != 3*time.Hour || out.Temporary.MaxWindow != 181*24*time.Hour || !out.Temporary.EndOnHour ||
		len(out.RequiredStatus) != 2 {
		t.Errorf("bandwidth_out caps = %+v", out)
	}
	in := caps.Resources[providers.BandwidthIn]
	if in.Min != 1 || in.Max != 200 || in.Temporary != nil || in.Downgrade != down {
		t.Errorf("bandwidth_in caps = %+v", in)
	}
	typ := caps.Resources[providers.InstanceType]
	if !typ.Named || typ.ChangeLock != 5*time.Minute || len(typ.RequiredStatus) != 1 || typ.RequiredStatus[0] != "Stopped" {
		t.Errorf("instance_type caps = %+v", typ)
	}
}
