package huawei

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/internal/strictyaml"
	"github.com/specscale/specscale/providers"
)

// account builds an account as the config loader would, with the options
// node parsed from YAML so that errors have positions.
func account(t *testing.T, options string, creds map[string]providers.SecretRef) providers.Account {
	t.Helper()
	acct := providers.Account{Name: "aad-prod", Type: TypeName, Credentials: creds, File: "specscale.yaml", Path: "providers[0]"}
	if options != "" {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(options), &doc); err != nil {
			t.Fatal(err)
		}
		acct.Options = doc.Content[0]
	}
	return acct
}

var (
	akskCreds = map[string]providers.SecretRef{CredAccessKey: {Env: "HUAWEI_AK"}, CredSecretKey: {File: "/run/secrets/sk"}}
	tokCreds  = map[string]providers.SecretRef{CredToken: {File: "/run/secrets/token"}}
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		options  string
		creds    map[string]providers.SecretRef
		endpoint string
		want     []string // every diagnostic, in order; nil for valid
	}{
		{name: "aksk with domain_id option", options: "domain_id: 0970d7b7d400f2470fbec00316a03560", creds: akskCreds},
		{name: "aksk is the default, domain_id as a credential", creds: map[string]providers.SecretRef{
			CredAccessKey: {Env: "AK"}, CredSecretKey: {Env: "SK"}, CredDomainID: {Env: "DOMAIN"}}},
		{name: "token", options: "auth: token", creds: tokCreds, endpoint: "https://aad.myhuaweicloud.com"},
		{name: "loopback endpoint", options: "domain_id: d1", creds: akskCreds, endpoint: "http://127.0.0.1:8080"},
		{
			name: "aksk without keys or domain", options: "auth: aksk", creds: nil,
			want: []string{
				"specscale.yaml:1:1: providers[0].options.domain_id: missing: AAD is a global service and needs the account (domain) ID as X-Domain-Id with AK/SK signing; set options.domain_id or credentials.domain_id",
				"specscale.yaml: providers[0].credentials.access_key: missing: auth aksk signs every call with access_key and secret_key",
				"specscale.yaml: providers[0].credentials.secret_key: missing: auth aksk signs every call with access_key and secret_key",
			},
		},
		{
			name: "domain twice, a token too", options: "domain_id: d1",
			creds: map[string]providers.SecretRef{CredAccessKey: {Env: "AK"}, CredSecretKey: {Env: "SK"}, CredDomainID: {Env: "D"}, CredToken: {Env: "T"}},
			want: []string{
				"specscale.yaml:1:12: providers[0].options.domain_id: set options.domain_id or credentials.domain_id, not both",
				"specscale.yaml: providers[0].credentials.token: not used with auth aksk; set auth: token to send a token instead",
			},
		},
		{
			name: "token with AK/SK leftovers", options: "auth: token\ndomain_id: d1",
			creds: map[string]providers.SecretRef{CredToken: {Env: "T"}, CredAccessKey: {Env: "AK"}},
			want: []string{
				"specscale.yaml:2:12: providers[0].options.domain_id: not used with auth token: the token carries its scope",
				"specscale.yaml: providers[0].credentials.access_key: not used with auth token",
			},
		},
		{
			name: "unknown auth, unknown option, bad credential refs, bad endpoint", options: "auth: password\nregion: cn-north-4",
			creds:    map[string]providers.SecretRef{CredAccessKey: {}, "password": {Env: "P"}, CredSecretKey: {Env: "A", File: "/b"}},
			endpoint: "aad.myhuaweicloud.com",
			want: []string{
				"specscale.yaml:2:1: providers[0].options.region: unknown field",
				"specscale.yaml:1:7: providers[0].options.auth: unknown auth \"password\": want aksk or token",
				"specscale.yaml: providers[0].credentials.access_key: want env: NAME or file: PATH (credentials are never inline)",
				"specscale.yaml: providers[0].credentials.password: unknown credential; huawei_aad takes access_key, secret_key, domain_id and token",
				"specscale.yaml: providers[0].credentials.secret_key: set env or file, not both",
				"specscale.yaml: providers[0].endpoint: \"aad.myhuaweicloud.com\": want https://host[:port]",
			},
		},
		{
			name: "plain http to a remote host", options: "domain_id: d1", creds: akskCreds, endpoint: "http://aad.myhuaweicloud.com",
			want: []string{"specscale.yaml: providers[0].endpoint: \"http://aad.myhuaweicloud.com\": plain http only towards loopback; use https"},
		},
		{name: "localhost endpoint", options: "domain_id: d1", creds: akskCreds, endpoint: "http://localhost:8080"},
		{
			name: "bad domain id", options: "domain_id: 'not an id'", creds: akskCreds,
			want: []string{"specscale.yaml:1:12: providers[0].options.domain_id: \"not an id\" is not an account ID: want letters, digits and '-'"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := account(t, tt.options, tt.creds)
			acct.Endpoint = tt.endpoint
			err := Validate(acct)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var se *strictyaml.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *strictyaml.Error", err)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("diagnostics:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestNewProviderFromConfig builds an account the way the registry does —
// secrets from a file and the environment — and uses it against the fake.
func TestNewProviderFromConfig(t *testing.T) {
	f := newFakeAAD(t)
	f.put("i-1", allValues(), fakeInstance{})
	dir := t.TempDir()
	skFile := filepath.Join(dir, "sk")
	if err := os.WriteFile(skFile, []byte(f.sk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_HUAWEI_AK", f.ak)
	t.Setenv("TEST_HUAWEI_DOMAIN", f.domain)
	acct := account(t, "auth: aksk", map[string]providers.SecretRef{
		CredAccessKey: {Env: "TEST_HUAWEI_AK"}, CredSecretKey: {File: skFile}, CredDomainID: {Env: "TEST_HUAWEI_DOMAIN"}})
	acct.Endpoint = f.serve(t)
	acct.Timeout = 5 * time.Second
	p, err := NewProvider(context.Background(), acct, nil)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	if gets, puts := f.counts(); gets+puts != 0 {
		t.Errorf("NewProvider made %d calls", gets+puts)
	}
	res, err := p.Apply(ctxT(t), providers.Change{Target: target(providers.AADBasicBandwidth, "i-1"), Value: 40, Token: "cfg"})
	if err != nil || res.Outcome != providers.Applied {
		t.Fatalf("Apply = %+v, %v", res, err)
	}

	t.Run("missing secret", func(t *testing.T) {
		acct := account(t, "domain_id: d1", map[string]providers.SecretRef{CredAccessKey: {Env: "TEST_HUAWEI_UNSET_AK"}, CredSecretKey: {File: skFile}})
		_, err := NewProvider(context.Background(), acct, nil)
		if err == nil || err.Error() != `provider "aad-prod": credentials.access_key: environment variable TEST_HUAWEI_UNSET_AK is not set` {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("token read per call", func(t *testing.T) {
		tokFile := filepath.Join(dir, "token")
		if err := os.WriteFile(tokFile, []byte("tok-A"), 0o600); err != nil {
			t.Fatal(err)
		}
		f := newFakeAAD(t)
		f.token = "tok-A"
		f.put("i-1", allValues(), fakeInstance{})
		acct := account(t, "auth: token", map[string]providers.SecretRef{CredToken: {File: tokFile}})
		acct.Endpoint = f.serve(t)
		p, err := NewProvider(context.Background(), acct, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1")); err != nil {
			t.Fatalf("Current: %v", err)
		}
		if err := os.WriteFile(tokFile, []byte("tok-B"), 0o600); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.token = "tok-B"
		f.mu.Unlock()
		if _, err := p.Current(ctxT(t), target(providers.AADBasicBandwidth, "i-1")); err != nil {
			t.Errorf("Current after the token file changed: %v", err)
		}
	})
}
