package zenlayer

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/providers"
)

// yamlNode parses src and returns its top mapping, as the config loader
// hands an account's options to the adapter.
func yamlNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func validAccount(typ string) providers.Account {
	return providers.Account{
		Name: "zl", Type: typ, File: "specscale.yaml", Path: "providers[0]",
		Credentials: map[string]providers.SecretRef{
			CredAccessKeyID:       {Env: "ZL_ID"},
			CredAccessKeyPassword: {File: "/run/secrets/zl"},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		options string
		edit    func(*providers.Account)
		want    []string // each line of the error, in order; nil: valid
	}{
		{name: "defaults bmc", typ: TypeBMC},
		{name: "defaults vm", typ: TypeVM},
		{name: "all options", typ: TypeBMC, options: "api_version: \"2026-02-01\"\nmax_bandwidth_mbps: 2000\n",
			edit: func(a *providers.Account) { a.Endpoint = "https://console.zenlayer.com"; a.Timeout = time.Minute }},
		{name: "loopback http", typ: TypeVM, edit: func(a *providers.Account) { a.Endpoint = "http://127.0.0.1:8080" }},
		{name: "version of the other service", typ: TypeVM, options: "api_version: \"2022-11-20\"\n",
			want: []string{`specscale.yaml:1:14: providers[0].options.api_version: zenlayer_vm supports 2023-03-13 or 2026-04-01, not "2022-11-20"`}},
		{name: "unknown option", typ: TypeBMC, options: "max_bandwidth: 10\n",
			want: []string{`specscale.yaml:1:1: providers[0].options.max_bandwidth: unknown field`}},
		{name: "everything wrong at once", typ: TypeBMC,
			options: "api_version: v1\nmax_bandwidth_mbps: -5\n",
			edit: func(a *providers.Account) {
				a.Endpoint = "http://console.zenlayer.com"
				a.Timeout = -time.Second
				delete(a.Credentials, CredAccessKeyID)
				a.Credentials["secret_access_key"] = providers.SecretRef{Env: "X"}
				a.Credentials[CredAccessKeyPassword] = providers.SecretRef{}
			},
			want: []string{
				`specscale.yaml: providers[0].endpoint: "http://console.zenlayer.com": plain http only towards loopback; use https`,
				`specscale.yaml: providers[0].timeout: must be positive`,
				`specscale.yaml: providers[0].credentials.access_key_id: missing (zenlayer_bmc needs access_key_id and access_key_password)`,
				`specscale.yaml: providers[0].credentials.access_key_password: want env: NAME or file: PATH (credentials are never inline)`,
				`specscale.yaml: providers[0].credentials.secret_access_key: unknown credential (want access_key_id and access_key_password)`,
				`specscale.yaml:1:14: providers[0].options.api_version: zenlayer_bmc supports 2022-11-20 or 2026-02-01, not "v1"`,
				`specscale.yaml:2:21: providers[0].options.max_bandwidth_mbps: want 1 to 1000000 Mbit/s, got -5`,
			}},
		{name: "endpoint with a path", typ: TypeBMC, edit: func(a *providers.Account) { a.Endpoint = "https://console.zenlayer.com/api/v2/bmc" },
			want: []string{`specscale.yaml: providers[0].endpoint: "https://console.zenlayer.com/api/v2/bmc": want only scheme and host; the adapter adds /api/v2/<service>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := validAccount(tt.typ)
			if tt.options != "" {
				acct.Options = yamlNode(t, tt.options)
			}
			if tt.edit != nil {
				tt.edit(&acct)
			}
			validate := ValidateBMC
			if tt.typ == TypeVM {
				validate = ValidateVM
			}
			err := validate(acct)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want:\n%s", strings.Join(tt.want, "\n"))
			}
			if got := err.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("Validate error:\n%s\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// Validate reads no secret: the referenced file and variable do not exist.
func TestValidateReadsNoSecret(t *testing.T) {
	acct := validAccount(TypeVM)
	acct.Credentials[CredAccessKeyID] = providers.SecretRef{File: "/nonexistent/zenlayer-id"}
	if err := ValidateVM(acct); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
