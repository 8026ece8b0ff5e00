// Package aliyun is the provider adapter for Alibaba Cloud ECS (API version
// 2014-05-26). It changes an instance's public bandwidth through
// ModifyInstanceNetworkSpec (or, for pay-as-you-go instances when the options
// say so, ModifyInstanceSpec), including ECS's native temporary upgrade, and
// the instance type of pay-as-you-go instances through ModifyInstanceSpec. It
// reads instances through DescribeInstances.
//
// Calls go through the official SDK (ecs-20140526/v7 on darabonba-openapi/v2)
// with its retries off and its HTTP client replaced by one that honours the
// call's context; the executor owns retrying. Every answer ECS gives becomes a
// *providers.Error of the class its code (and, for OperationDenied, its
// message) documents.
package aliyun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	ecs "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"go.uber.org/zap"

	"github.com/specscale/specscale/internal/strictyaml"
	"github.com/specscale/specscale/providers"
)

// TypeName is the provider type in the daemon config.
const TypeName = "aliyun"

// The ECS calls the adapter makes.
const (
	opDescribe    = "DescribeInstances"
	opNetworkSpec = "ModifyInstanceNetworkSpec"
	opSpec        = "ModifyInstanceSpec"
)

// Credential names in the account's credentials mapping.
const (
	CredAccessKeyID     = "access_key_id"
	CredAccessKeySecret = "access_key_secret"
	CredSecurityToken   = "security_token"
)

// DefaultTimeout bounds a call when the account sets no timeout.
const DefaultTimeout = 30 * time.Second

// Rules from the ECS documents, used for the capabilities and the checks made
// before any call.
const (
	// ChangeLock: "each time a modification succeeds, you cannot modify the
	// instance again within five minutes".
	ChangeLock = 5 * time.Minute
	// DowngradesPerCycle: at most three downgrades (refunds) per
	// subscription instance.
	DowngradesPerCycle = 3
	// MinTemporaryWindow is the shortest temporary upgrade.
	MinTemporaryWindow = 3 * time.Hour
	// MaxTemporaryWindow is "at most 6 months", taken as the shortest six
	// calendar months (181 days) so that every window it admits is admitted
	// by ECS.
	MaxTemporaryWindow = 181 * 24 * time.Hour
	// StartSlack is how far in the past a temporary window may start.
	StartSlack = time.Minute
)

// Layouts of the temporary window parameters of ModifyInstanceNetworkSpec.
const (
	startTimeLayout = "2006-01-02T15:04Z" // UTC, minute precision
	endTimeLayout   = "2006-01-02T15Z"    // UTC, hour precision
)

// temporaryConditions is who qualifies for a native temporary upgrade.
const temporaryConditions = "subscription (PrePaid) instances whose bandwidth is billed PayByBandwidth and that " +
	"have a system-assigned public IP, not an EIP; outbound bandwidth only; the value must not be below the " +
	"current one; a downgrade during the window ends it"

// Signature schemes, as the option names them. "v2" is the SDK's name for
// the HMAC-SHA1 scheme (SignatureVersion 1.0).
const (
	SignatureV3 = "v3"
	SignatureV2 = "v2"
)

// Options are an aliyun account's settings in the daemon config.
type Options struct {
	// AutoPay pays upgrade orders of subscription instances from the
	// account balance (default true). With false, an upgrade leaves an
	// unpaid order that a person pays in the console, and the bandwidth
	// does not change until then.
	AutoPay *bool `yaml:"auto_pay"`
	// Signature is the request signing scheme: v3 (ACS3-HMAC-SHA256, the
	// default) or v2 (HMAC-SHA1).
	Signature string `yaml:"signature"`
	// PostpaidBandwidthAPI is the call that changes the bandwidth of
	// pay-as-you-go instances: ModifyInstanceNetworkSpec (default) or
	// ModifyInstanceSpec. Subscription instances and temporary upgrades
	// always use ModifyInstanceNetworkSpec.
	PostpaidBandwidthAPI string `yaml:"postpaid_bandwidth_api"`
}

// settings are an account's checked configuration, secrets excepted.
type settings struct {
	region      string
	endpoint    string // host[:port]; "" lets the SDK choose by region
	protocol    string // https, or http for a loopback endpoint
	autoPay     bool
	signature   string
	postpaidAPI string
	timeout     time.Duration
}

var regionRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)

// Validate checks an aliyun account: region, endpoint, credential names,
// timeout and options. It reads no secret and makes no call.
func Validate(acct providers.Account) error {
	_, err := settingsOf(acct)
	return err
}

func settingsOf(acct providers.Account) (settings, error) {
	var errs []error
	// fieldErr reports a problem with one of the account's common fields
	// by its path; the config loader finds its line.
	fieldErr := func(field, format string, args ...any) {
		path := field
		if acct.Path != "" {
			path = acct.Path + "." + field
		}
		errs = append(errs, &strictyaml.Error{Diagnostics: strictyaml.Diagnostics{{
			File: acct.File, Path: path, Msg: fmt.Sprintf(format, args...)}}})
	}
	s := settings{region: acct.Region, protocol: "https", autoPay: true, signature: SignatureV3,
		postpaidAPI: opNetworkSpec, timeout: acct.Timeout}
	switch {
	case acct.Region == "":
		fieldErr("region", "required, the ECS region ID such as cn-hangzhou")
	case !regionRE.MatchString(acct.Region):
		fieldErr("region", "%q is not an ECS region ID such as cn-hangzhou", acct.Region)
	}
	if acct.Endpoint != "" {
		host, proto, err := parseEndpoint(acct.Endpoint)
		if err != nil {
			fieldErr("endpoint", "%v", err)
		}
		s.endpoint, s.protocol = host, proto
	}
	for _, name := range []string{CredAccessKeyID, CredAccessKeySecret} {
		if _, ok := acct.Credentials[name]; !ok {
			fieldErr("credentials."+name, "required")
		}
	}
	for _, name := range sortedKeys(acct.Credentials) {
		switch name {
		case CredAccessKeyID, CredAccessKeySecret, CredSecurityToken:
			if err := acct.Credentials[name].Validate(); err != nil {
				fieldErr("credentials."+name, "%v", err)
			}
		default:
			fieldErr("credentials."+name, "unknown credential (want %s, %s and optionally %s)",
				CredAccessKeyID, CredAccessKeySecret, CredSecurityToken)
		}
	}
	switch {
	case acct.Timeout < 0:
		fieldErr("timeout", "%s must not be negative", acct.Timeout)
	case acct.Timeout == 0:
		s.timeout = DefaultTimeout
	}

	var o Options
	if err := acct.DecodeOptions(&o); err != nil {
		errs = append(errs, err)
	} else {
		if o.AutoPay != nil {
			s.autoPay = *o.AutoPay
		}
		switch o.Signature {
		case "", SignatureV3:
		case SignatureV2:
			s.signature = SignatureV2
		default:
			errs = append(errs, acct.OptionsError("signature", "want %s or %s, got %q", SignatureV3, SignatureV2, o.Signature))
		}
		switch o.PostpaidBandwidthAPI {
		case "", opNetworkSpec:
		case opSpec:
			s.postpaidAPI = opSpec
		default:
			errs = append(errs, acct.OptionsError("postpaid_bandwidth_api", "want %s or %s, got %q", opNetworkSpec, opSpec, o.PostpaidBandwidthAPI))
		}
	}
	return s, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// parseEndpoint accepts host[:port] (HTTPS) or an http(s)://host[:port] URL.
// Plain HTTP is allowed only to a loopback host: it would carry the request,
// and any security token, in clear text.
func parseEndpoint(ep string) (host, protocol string, err error) {
	raw := ep
	if !strings.Contains(ep, "://") {
		raw = "https://" + ep
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q: want host[:port] or http(s)://host[:port]", ep)
	}
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", "", fmt.Errorf("%q: plain http only to a loopback host (tests); use https", ep)
		}
	default:
		return "", "", fmt.Errorf("%q: scheme %q, want https (or http to loopback)", ep, u.Scheme)
	}
	return u.Host, u.Scheme, nil
}

// Provider is one aliyun account. It is safe for concurrent use.
type Provider struct {
	set     settings
	clients *clientPool
	// endpoint is the host the SDK sends to.
	endpoint string
	log      *zap.Logger
	redact   redactor
	now      func() time.Time
}

var _ providers.Provider = (*Provider)(nil)

// NewProvider builds an aliyun account: it resolves the credentials and sets
// up the SDK client. It makes no call.
func NewProvider(ctx context.Context, acct providers.Account, log *zap.Logger) (providers.Provider, error) {
	return New(ctx, acct, log)
}

// New is NewProvider returning the concrete type.
func New(_ context.Context, acct providers.Account, log *zap.Logger) (*Provider, error) {
	set, err := settingsOf(acct)
	if err != nil {
		return nil, err
	}
	id, err := acct.Secret(CredAccessKeyID)
	if err != nil {
		return nil, err
	}
	secret, err := acct.Secret(CredAccessKeySecret)
	if err != nil {
		return nil, err
	}
	var token string
	if _, ok := acct.Credentials[CredSecurityToken]; ok {
		if token, err = acct.Secret(CredSecurityToken); err != nil {
			return nil, err
		}
	}
	if token != "" && sdkDebugOn(os.Getenv("DEBUG")) {
		return nil, fmt.Errorf("provider %q: the environment sets DEBUG=dara or DEBUG=tea, which makes the Alibaba SDK print "+
			"every request, security token included, to standard output; unset it", acct.Name)
	}
	rd := newRedactor(secret, token)
	doer := newHTTPDoer(rd)
	pool := &clientPool{make: func() (*ecs.Client, error) { return newSDKClient(set, id, secret, token, doer) }}
	client, err := pool.make()
	if err != nil {
		return nil, fmt.Errorf("provider %q: set up the ECS client: %s", acct.Name, rd.clean(err.Error()))
	}
	pool.put(client)
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("provider", TypeName), zap.String("account", acct.Name), zap.String("region", set.region))
	if !set.autoPay {
		log.Warn("auto_pay is false: upgrades of subscription instances leave unpaid orders that take effect only once paid in the console")
	}
	return &Provider{set: set, clients: pool, endpoint: dara.StringValue(client.Endpoint),
		log: log, redact: rd, now: time.Now}, nil
}

// sdkDebugOn reports whether DEBUG turns on the SDK's request dump.
func sdkDebugOn(env string) bool {
	for _, part := range strings.Split(env, ",") {
		if part == "dara" || part == "tea" {
			return true
		}
	}
	return false
}

// Capabilities implements providers.Provider.
func (p *Provider) Capabilities() providers.Capabilities { return Capabilities() }

// Capabilities are those of every aliyun account.
func Capabilities() providers.Capabilities {
	down := providers.DowngradeRule{PerCycle: DowngradesPerCycle, PrepaidOnly: true, FreezeAfterDowngrade: true}
	bandwidth := []string{"Running", "Stopped"}
	return providers.Capabilities{
		Type: TypeName,
		Resources: map[providers.Resource]providers.ResourceCaps{
			providers.BandwidthOut: {
				Unit: "Mbit/s", Min: 0, Max: 200, Integer: true, ChangeLock: ChangeLock, Downgrade: down,
				RequiredStatus: bandwidth,
				Temporary: &providers.TemporaryRule{MinWindow: MinTemporaryWindow, MaxWindow: MaxTemporaryWindow,
					EndOnHour: true, Conditions: temporaryConditions},
			},
			providers.BandwidthIn: {
				Unit: "Mbit/s", Min: 1, Max: 200, Integer: true, ChangeLock: ChangeLock, Downgrade: down,
				RequiredStatus: bandwidth,
			},
			providers.InstanceType: {
				Named: true, ChangeLock: ChangeLock, Downgrade: down, RequiredStatus: []string{"Stopped"},
			},
		},
	}
}

// refuse is a refusal made before any call.
func refuse(op string, class providers.Class, format string, args ...any) *providers.Error {
	return &providers.Error{Class: class, Provider: TypeName, Op: op, Message: fmt.Sprintf(format, args...)}
}

// isWhole reports whether v is a whole number that fits an int32.
func isWhole(v float64) bool {
	return v == math.Trunc(v) && v >= math.MinInt32 && v <= math.MaxInt32
}
