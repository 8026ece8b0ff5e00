package zenlayer

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/internal/strictyaml"
	"github.com/specscale/specscale/providers"
)

// Provider types in the daemon config: one account talks to one Zenlayer
// service, because the two services differ in what they can change (bare
// metal: bandwidth; VMs: bandwidth and instance type) and in their field
// names and API versions.
const (
	TypeBMC = "zenlayer_bmc"
	TypeVM  = "zenlayer_vm"
)

// Defaults for the common account fields.
const (
	DefaultEndpoint = "https://console.zenlayer.com"
	DefaultTimeout  = 30 * time.Second
	// DefaultMaxBandwidthMbps is a 10 Gbit/s port. Set max_bandwidth_mbps to
	// the instance model's cap (DescribeInstanceTypes) when it is lower.
	DefaultMaxBandwidthMbps = 10000
)

// Credential names the account must give.
const (
	CredAccessKeyID       = "access_key_id"
	CredAccessKeyPassword = "access_key_password"
)

// service describes one Zenlayer API service.
type service struct {
	typeName string
	path     string   // "bmc" → /api/v2/bmc
	versions []string // X-ZC-Version values we know; the first is the default
	// bandwidthField is ModifyInstanceBandwidth's bandwidth parameter.
	bandwidthField string
	resources      []providers.Resource
}

var (
	serviceBMC = service{
		typeName:       TypeBMC,
		path:           "bmc",
		versions:       []string{"2022-11-20", "2026-02-01"},
		bandwidthField: "bandwidthOutMbps",
		resources:      []providers.Resource{providers.BandwidthOut},
	}
	serviceVM = service{
		typeName:       TypeVM,
		path:           "vm",
		versions:       []string{"2023-03-13", "2026-04-01"},
		bandwidthField: "internetMaxBandwidthOut",
		resources:      []providers.Resource{providers.BandwidthOut, providers.InstanceType},
	}
)

// Options are a Zenlayer account's settings under "options" in the daemon
// config. Every field is optional.
type Options struct {
	// APIVersion is sent as X-ZC-Version. bmc: 2022-11-20 (default) or
	// 2026-02-01; vm: 2023-03-13 (default) or 2026-04-01.
	APIVersion string `yaml:"api_version"`
	// MaxBandwidthMbps is the highest bandwidth_out the adapter asks for,
	// and the value it reports for a bare-metal bandwidthOutMbps of 0
	// ("unlimited up to the model cap"). Default 10000.
	MaxBandwidthMbps int `yaml:"max_bandwidth_mbps"`
}

// settings is an account checked and filled with defaults.
type settings struct {
	opts     Options
	endpoint *url.URL
	timeout  time.Duration
}

// ValidateBMC checks a zenlayer_bmc account: its options, endpoint and the
// names of its credentials. It reads no secret and makes no call. Every
// problem is reported at once (*strictyaml.Error).
func ValidateBMC(acct providers.Account) error {
	_, err := check(acct, serviceBMC)
	return err
}

// ValidateVM checks a zenlayer_vm account like ValidateBMC.
func ValidateVM(acct providers.Account) error {
	_, err := check(acct, serviceVM)
	return err
}

func check(acct providers.Account, svc service) (settings, error) {
	var s settings
	if err := acct.DecodeOptions(&s.opts); err != nil {
		return s, err
	}
	var diags strictyaml.Diagnostics
	optionErr := func(field, format string, args ...any) {
		diags = append(diags, strictyaml.DiagnosticsOf(acct.File, acct.OptionsError(field, format, args...))...)
	}
	fieldErr := func(field, format string, args ...any) {
		diags = append(diags, strictyaml.Diagnostic{File: acct.File, Path: acct.Path + "." + field, Msg: fmt.Sprintf(format, args...)})
	}

	if s.opts.APIVersion == "" {
		s.opts.APIVersion = svc.versions[0]
	} else if !slices.Contains(svc.versions, s.opts.APIVersion) {
		optionErr("api_version", "%s supports %s, not %q", svc.typeName, strings.Join(svc.versions, " or "), s.opts.APIVersion)
	}
	switch {
	case s.opts.MaxBandwidthMbps == 0:
		s.opts.MaxBandwidthMbps = DefaultMaxBandwidthMbps
	case s.opts.MaxBandwidthMbps < 1 || s.opts.MaxBandwidthMbps > 1000000:
		optionErr("max_bandwidth_mbps", "want 1 to 1000000 Mbit/s, got %d", s.opts.MaxBandwidthMbps)
	}

	endpoint := acct.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := parseEndpoint(endpoint)
	if err != nil {
		fieldErr("endpoint", "%v", err)
	}
	s.endpoint = u

	s.timeout = acct.Timeout
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	} else if s.timeout < 0 {
		fieldErr("timeout", "must be positive")
	}

	for _, name := range []string{CredAccessKeyID, CredAccessKeyPassword} {
		ref, ok := acct.Credentials[name]
		if !ok {
			fieldErr("credentials."+name, "missing (%s needs %s and %s)", svc.typeName, CredAccessKeyID, CredAccessKeyPassword)
			continue
		}
		if err := ref.Validate(); err != nil {
			fieldErr("credentials."+name, "%v", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(acct.Credentials)) {
		if name != CredAccessKeyID && name != CredAccessKeyPassword {
			fieldErr("credentials."+name, "unknown credential (want %s and %s)", CredAccessKeyID, CredAccessKeyPassword)
		}
	}
	diags.Sort()
	return s, diags.Err()
}

// parseEndpoint accepts https://host[:port], and plain http only towards
// loopback (tests, a local fake): a signed request read off the wire can be
// replayed for as long as its timestamp is accepted, and its X-ZC-Action
// and X-ZC-Version headers are not signed at all.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q: want https://host[:port]", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: want only scheme and host; the adapter adds /api/v2/<service>", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%q: plain http only towards loopback; use https", s)
		}
	default:
		return nil, fmt.Errorf("%q: scheme must be https", s)
	}
	u.Path = ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewBMC builds a zenlayer_bmc account. It resolves the credentials and
// makes no call.
func NewBMC(ctx context.Context, acct providers.Account, log *zap.Logger) (providers.Provider, error) {
	return newProvider(acct, serviceBMC, log)
}

// NewVM builds a zenlayer_vm account like NewBMC.
func NewVM(ctx context.Context, acct providers.Account, log *zap.Logger) (providers.Provider, error) {
	return newProvider(acct, serviceVM, log)
}

func newProvider(acct providers.Account, svc service, log *zap.Logger) (*Provider, error) {
	s, err := check(acct, svc)
	if err != nil {
		return nil, err
	}
	keyID, err := acct.Secret(CredAccessKeyID)
	if err != nil {
		return nil, err
	}
	password, err := acct.Secret(CredAccessKeyPassword)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("account", acct.Name), zap.String("provider", svc.typeName))
	transport := http.DefaultTransport.(*http.Transport).Clone()
	c := &client{
		typeName: svc.typeName,
		url:      s.endpoint.String() + "/api/v2/" + svc.path,
		host:     s.endpoint.Host,
		service:  svc.path,
		version:  s.opts.APIVersion,
		keyID:    keyID,
		password: password,
		timeout:  s.timeout,
		http:     &http.Client{Transport: transport},
		now:      time.Now,
		log:      log,
	}
	return &Provider{
		svc:    svc,
		opts:   s.opts,
		api:    c,
		caps:   capabilities(svc, s.opts),
		log:    log,
		now:    time.Now,
		tokens: newTokenMemory(tokenMemoryTTL, tokenMemorySize),
		locks:  newTargetLocks(),
	}, nil
}

// Resources lists the resources a Zenlayer provider type changes.
func Resources(typeName string) []providers.Resource {
	for _, svc := range []service{serviceBMC, serviceVM} {
		if svc.typeName == typeName {
			return append([]providers.Resource(nil), svc.resources...)
		}
	}
	return nil
}
