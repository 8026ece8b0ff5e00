package huawei

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/internal/strictyaml"
	"github.com/specscale/specscale/providers"
)

// TypeName is the provider type in the daemon config.
const TypeName = "huawei_aad"

// DefaultEndpoint is AAD's global endpoint.
const DefaultEndpoint = "https://aad.myhuaweicloud.com"

// Authentication modes of Options.Auth.
const (
	AuthAKSK  = "aksk"
	AuthToken = "token"
)

// Credential names an account may set.
const (
	CredAccessKey = "access_key"
	CredSecretKey = "secret_key"
	CredToken     = "token"
	CredDomainID  = "domain_id"
)

// Options are a huawei_aad account's settings under "options". Endpoint,
// credentials and timeout are the account's common fields:
//
//	providers:
//	  - name: aad-prod
//	    type: huawei_aad
//	    credentials:
//	      access_key: {env: HUAWEI_AK}
//	      secret_key: {file: /run/secrets/huawei_sk}
//	    options:
//	      auth: aksk          # or token: credentials.token, sent as X-Auth-Token
//	      domain_id: 0970d7b7d400f2470fbec00316a03560
type Options struct {
	// Auth is "aksk" (the default: SDK-HMAC-SHA256 signing with
	// credentials access_key and secret_key) or "token" (credentials.token
	// sent as X-Auth-Token, read again before every call so that a token
	// refreshed in its file or variable is picked up).
	Auth string `yaml:"auth"`
	// DomainID is the account ID sent as X-Domain-Id, which AAD, a global
	// service, needs with AK/SK signing. Set it here or name where it lives
	// in credentials.domain_id, not both.
	DomainID string `yaml:"domain_id"`
}

var domainIDRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// Validate decodes the account's options strictly and checks them with the
// account's credentials and endpoint. It reads no secret and makes no call.
// Every problem is reported at once, each with its position or path.
func Validate(acct providers.Account) error {
	_, diags := decodeOptions(acct)
	return diags.Err()
}

// decodeOptions returns the options with defaults applied and every
// problem found.
func decodeOptions(acct providers.Account) (Options, strictyaml.Diagnostics) {
	var o Options
	var diags strictyaml.Diagnostics
	if err := acct.DecodeOptions(&o); err != nil {
		diags = append(diags, strictyaml.DiagnosticsOf(acct.File, err)...)
	}
	// Options first, then credentials and the common fields, so that the
	// report reads in the order of the account's own keys.
	opts := strictyaml.Decoder{File: acct.File}
	d := strictyaml.Decoder{File: acct.File}
	optErr := func(field, format string, args ...any) {
		opts.Errorf(optionNode(acct.Options, field), acct.Path+".options."+field, format, args...)
	}
	credErr := func(name, format string, args ...any) {
		d.Errorf(nil, acct.Path+".credentials."+name, format, args...)
	}

	if o.Auth == "" {
		o.Auth = AuthAKSK
	}
	has := func(name string) bool { _, ok := acct.Credentials[name]; return ok }

	var names []string
	for name := range acct.Credentials {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch name {
		case CredAccessKey, CredSecretKey, CredToken, CredDomainID:
			if err := acct.Credentials[name].Validate(); err != nil {
				credErr(name, "%v", err)
			}
		default:
			credErr(name, "unknown credential; %s takes %s, %s, %s and %s", TypeName, CredAccessKey, CredSecretKey, CredDomainID, CredToken)
		}
	}

	switch o.Auth {
	case AuthAKSK:
		for _, name := range []string{CredAccessKey, CredSecretKey} {
			if !has(name) {
				credErr(name, "missing: auth %s signs every call with %s and %s", AuthAKSK, CredAccessKey, CredSecretKey)
			}
		}
		if has(CredToken) {
			credErr(CredToken, "not used with auth %s; set auth: %s to send a token instead", AuthAKSK, AuthToken)
		}
		switch {
		case o.DomainID != "" && has(CredDomainID):
			optErr("domain_id", "set options.domain_id or credentials.domain_id, not both")
		case o.DomainID == "" && !has(CredDomainID):
			optErr("domain_id", "missing: AAD is a global service and needs the account (domain) ID as X-Domain-Id with AK/SK signing; set options.domain_id or credentials.domain_id")
		case o.DomainID != "" && !domainIDRE.MatchString(o.DomainID):
			optErr("domain_id", "%q is not an account ID: want letters, digits and '-'", o.DomainID)
		}
	case AuthToken:
		if !has(CredToken) {
			credErr(CredToken, "missing: auth %s sends credentials.%s as X-Auth-Token", AuthToken, CredToken)
		}
		for _, name := range []string{CredAccessKey, CredSecretKey, CredDomainID} {
			if has(name) {
				credErr(name, "not used with auth %s", AuthToken)
			}
		}
		if o.DomainID != "" {
			optErr("domain_id", "not used with auth %s: the token carries its scope", AuthToken)
		}
	default:
		optErr("auth", "unknown auth %q: want %s or %s", o.Auth, AuthAKSK, AuthToken)
	}

	if acct.Endpoint != "" {
		if _, err := parseEndpoint(acct.Endpoint); err != nil {
			d.Errorf(nil, acct.Path+".endpoint", "%v", err)
		}
	}
	if acct.Timeout < 0 {
		d.Errorf(nil, acct.Path+".timeout", "must not be negative")
	}
	diags = append(diags, opts.Diags...)
	diags = append(diags, d.Diags...)
	return o, diags
}

// optionNode finds the value node of an option, or returns the options
// mapping itself (or nil) so that an error still has a position.
func optionNode(opts *yaml.Node, field string) *yaml.Node {
	if opts == nil {
		return nil
	}
	for i := 0; i+1 < len(opts.Content); i += 2 {
		if opts.Content[i].Value == field {
			return opts.Content[i+1]
		}
	}
	return opts
}

// parseEndpoint accepts https://host[:port], and plain http only towards
// loopback (tests, a local fake): over http an IAM token, or a signed
// request that can be replayed within its 15 minutes, would cross the
// network in clear text.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q: want https://host[:port]", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: want https://host[:port] without user, query or fragment", s)
	}
	if u.Scheme == "http" {
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("%q: plain http only towards loopback; use https", s)
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}
