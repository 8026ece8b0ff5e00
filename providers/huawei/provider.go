// Package huawei is the provider adapter for Huawei Cloud Advanced
// Anti-DDoS (AAD): it reads an AAD instance's specification
// (GET /v2/aad/instances/{id}) and upgrades it (PUT /v2/aad/instance).
//
// AAD is treated as upgrade-only: no document says the upgrade API can lower
// a value, so Apply refuses any value below the current one, before any
// write. AAD takes no client token; Apply is made idempotent inside the
// adapter as far as it can be (see memory.go and docs/providers.md).
//
// Calls are signed with SDK-HMAC-SHA256 (AK/SK) by a signer of our own, or
// carry an IAM token. The official SDK is not used: it is one 250 MB module
// for 178 services and does not read AAD's error_description.
package huawei

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
)

// DefaultTimeout bounds each call when the account sets no timeout.
const DefaultTimeout = 30 * time.Second

// The API operations, as Huawei names them; they are the Op of every error.
const (
	opShow    = "ShowInstanceByInstanceId"
	opUpgrade = "UpgradeInstanceSpec"
)

// The instance statuses Current reports. The detail API has no status
// field; the adapter derives one from instance_config.freeze_type and
// expire_time.
const (
	StatusNormal  = "normal"
	StatusFrozen  = "frozen"
	StatusExpired = "expired"
)

// ElasticServiceBandwidthType95th is the only non-zero value the API
// documents for elastic_service_bandwidth_type: monthly 95th-percentile
// billing. Apply sends it when it enables elastic service bandwidth.
const ElasticServiceBandwidthType95th = 3

// resourceField says how one resource appears in the API.
type resourceField struct {
	field    string // name in upgrade_data and product_spec_data
	unit     string
	asString bool // upgrade_data takes it as a string (the Gbit/s bandwidths)
}

var resourceFields = map[providers.Resource]resourceField{
	providers.AADBasicBandwidth:          {"basic_bandwidth", "Gbit/s", true},
	providers.AADElasticBandwidth:        {"elastic_bandwidth", "Gbit/s", true},
	providers.AADServiceBandwidth:        {"service_bandwidth", "Mbit/s", false},
	providers.AADElasticServiceBandwidth: {"elastic_service_bandwidth", "Mbit/s", false},
	providers.AADBasicQPS:                {"basic_qps", "requests/s", false},
	providers.AADPorts:                   {"port_num", "count", false},
	providers.AADDomains:                 {"bind_domain_num", "count", false},
}

// Auth is how a Client authenticates. Build one with AKSK or Token.
type Auth struct {
	mode     string
	signer   signer
	domainID string
	token    func() (string, error)
}

// AKSK signs every call with an access key pair and sends domainID (the
// account ID) as X-Domain-Id.
func AKSK(accessKey, secretKey, domainID string) Auth {
	return Auth{mode: AuthAKSK, signer: signer{accessKey: accessKey, secretKey: newSecret(secretKey)}, domainID: domainID}
}

// Token sends the value fetch returns as X-Auth-Token. fetch runs before
// every call, so a token refreshed outside the daemon is picked up; its
// error must name where the token lives, never the token.
func Token(fetch func() (string, error)) Auth {
	return Auth{mode: AuthToken, token: fetch}
}

// Config is what a Client needs.
type Config struct {
	Account  string        // the account's name, for logs
	Endpoint string        // default DefaultEndpoint
	Timeout  time.Duration // per call; default DefaultTimeout
	Auth     Auth
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send requests through hc. Its own Timeout
// should be zero: every call is bounded by Config.Timeout through its
// context.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithClock makes the client read time (for X-Sdk-Date, expiry and its
// idempotency memory) from now.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// Client is one AAD account. It is safe for concurrent use.
type Client struct {
	account string
	base    *url.URL
	timeout time.Duration
	auth    Auth
	http    *http.Client
	now     func() time.Time
	log     *zap.Logger
	locks   instanceLocks
	mem     *memory
}

var _ providers.Provider = (*Client)(nil)

// New returns a client. It makes no call.
func New(cfg Config, log *zap.Logger, opts ...Option) (*Client, error) {
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	base, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s endpoint %w", TypeName, err)
	}
	switch cfg.Auth.mode {
	case AuthAKSK:
		if cfg.Auth.signer.accessKey == "" || cfg.Auth.signer.secretKey.value() == "" || cfg.Auth.domainID == "" {
			return nil, fmt.Errorf("%s: AK/SK auth needs an access key, a secret key and a domain ID", TypeName)
		}
	case AuthToken:
		if cfg.Auth.token == nil {
			return nil, fmt.Errorf("%s: token auth needs a token source", TypeName)
		}
	default:
		return nil, fmt.Errorf("%s: no auth configured", TypeName)
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{
		account: cfg.Account,
		base:    base,
		timeout: cfg.Timeout,
		auth:    cfg.Auth,
		http:    &http.Client{},
		now:     time.Now,
		log:     log.With(zap.String("provider", TypeName), zap.String("account", cfg.Account)),
		mem:     newMemory(),
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// NewProvider builds a huawei_aad account from the daemon config: it
// validates the options and resolves the AK/SK and domain ID (a token is
// resolved again before each call). It makes no call.
func NewProvider(_ context.Context, acct providers.Account, log *zap.Logger) (providers.Provider, error) {
	o, diags := decodeOptions(acct)
	if err := diags.Err(); err != nil {
		return nil, err
	}
	cfg := Config{Account: acct.Name, Endpoint: acct.Endpoint, Timeout: acct.Timeout}
	switch o.Auth {
	case AuthAKSK:
		ak, err := acct.Secret(CredAccessKey)
		if err != nil {
			return nil, err
		}
		sk, err := acct.Secret(CredSecretKey)
		if err != nil {
			return nil, err
		}
		domain := o.DomainID
		if domain == "" {
			if domain, err = acct.Secret(CredDomainID); err != nil {
				return nil, err
			}
		}
		cfg.Auth = AKSK(ak, sk, domain)
	case AuthToken:
		cfg.Auth = Token(func() (string, error) { return acct.Secret(CredToken) })
	}
	return New(cfg, log)
}

// Capabilities implements providers.Provider. Every resource is
// upgrade-only, integer and asynchronous (an order may wait for payment).
// Max is the API's integer range: AAD's own product limits come back as
// errors.
func (c *Client) Capabilities() providers.Capabilities {
	caps := providers.Capabilities{Type: TypeName, Resources: map[providers.Resource]providers.ResourceCaps{}}
	for r, f := range resourceFields {
		caps.Resources[r] = providers.ResourceCaps{
			Unit:           f.unit,
			Min:            0,
			Max:            math.MaxInt32,
			Integer:        true,
			Downgrade:      providers.DowngradeRule{UpgradeOnly: true},
			Async:          true,
			RequiredStatus: []string{StatusNormal},
		}
	}
	return caps
}

// Current implements providers.Provider. Min is the current value: the
// instance accepts nothing lower.
func (c *Client) Current(ctx context.Context, t providers.Target) (providers.Spec, error) {
	if err := checkTarget(opShow, t); err != nil {
		return providers.Spec{}, err
	}
	d, err := c.show(ctx, t.Instance)
	if err != nil {
		return providers.Spec{}, err
	}
	v, err := d.value(t.Resource)
	if err != nil {
		return providers.Spec{}, err
	}
	status := d.status(c.now())
	spec := providers.Spec{
		Target:   t,
		Value:    v,
		Status:   status,
		Ready:    status == StatusNormal && d.updatable(t.Resource),
		Prepaid:  true,
		Min:      v,
		CycleEnd: d.expiry(),
	}
	if p, ok := c.mem.pendingFor(t.Key(), v, c.now()); ok {
		spec.Pending = &providers.Pending{Value: p.value, State: providers.Processing}
	}
	return spec, nil
}

// Apply implements providers.Provider. It reads the spec first and does not
// write when the value is already there or a remembered order for it is
// pending; it refuses, before any write, a value below the current one
// (AAD is upgrade-only) and an instance that is frozen or expired.
func (c *Client) Apply(ctx context.Context, ch providers.Change) (providers.Result, error) {
	if err := checkChange(ch); err != nil {
		return providers.Result{}, err
	}
	t := ch.Target
	unlock, err := c.locks.lock(ctx, t.Instance)
	if err != nil {
		return providers.Result{}, providers.TransportError(TypeName, opUpgrade, err)
	}
	defer unlock()

	params := fmt.Sprintf("%s|%v", t.Key(), ch.Value)
	if ch.Token != "" {
		res, found, mismatch := c.mem.result(ch.Token, params, c.now())
		if mismatch {
			return providers.Result{}, refusal(providers.ClassInvalid, opUpgrade,
				fmt.Sprintf("token %q was already used for a different change", ch.Token))
		}
		if found {
			return res, nil
		}
	}

	d, err := c.show(ctx, t.Instance)
	if err != nil {
		return providers.Result{}, err
	}
	cur, err := d.value(t.Resource)
	if err != nil {
		return providers.Result{}, err
	}
	unit := resourceFields[t.Resource].unit
	if p, ok := c.mem.pendingFor(t.Key(), cur, c.now()); ok && p.value == ch.Value {
		res := providers.Result{Outcome: providers.Processing, OrderID: p.orderID}
		c.mem.remember(ch.Token, params, res, c.now())
		return res, nil
	}
	switch {
	case ch.Value == cur:
		res := providers.Result{Outcome: providers.Applied}
		c.mem.remember(ch.Token, params, res, c.now())
		return res, nil
	case ch.Value < cur:
		return providers.Result{}, refusal(providers.ClassInvalid, opUpgrade, fmt.Sprintf(
			"AAD is upgrade-only: %s of instance %s is %v %s and the upgrade API cannot lower it to %v",
			t.Resource, t.Instance, cur, unit, ch.Value))
	}
	switch status := d.status(c.now()); status {
	case StatusFrozen:
		return providers.Result{}, refusal(providers.ClassAccount, opUpgrade, fmt.Sprintf(
			"instance %s is frozen (freeze_type %v) and cannot be upgraded until it is unfrozen", t.Instance, d.freezeTypes()))
	case StatusExpired:
		return providers.Result{}, refusal(providers.ClassAccount, opUpgrade, fmt.Sprintf(
			"instance %s expired at %s and cannot be upgraded until it is renewed", t.Instance, d.expiry().UTC().Format(time.RFC3339)))
	}
	if !d.updatable(t.Resource) {
		return providers.Result{}, refusal(providers.ClassStatus, opUpgrade, fmt.Sprintf(
			"instance %s reports elastic_service_bw_update_enable false: its elastic service bandwidth cannot be changed now", t.Instance))
	}

	body, err := json.Marshal(upgradeRequest{InstanceID: t.Instance, UpgradeData: upgradeDataFor(t.Resource, int64(ch.Value), d)})
	if err != nil {
		return providers.Result{}, refusal(providers.ClassInvalid, opUpgrade, "encode request: "+err.Error())
	}
	var out upgradeResponse
	reqID, err := c.do(ctx, opUpgrade, http.MethodPut, "/v2/aad/instance", body, &out)
	if err != nil {
		return providers.Result{}, err
	}
	orderID := strings.Trim(string(out.OrderID), `"`)
	if orderID == "null" {
		orderID = ""
	}
	res := providers.Result{Outcome: providers.Processing, OrderID: orderID, RequestID: reqID}
	// The order may wait for payment (accounts without the payment
	// permission get an unpaid order) or for provisioning: Applied only
	// when the spec shows the value.
	if d2, err := c.show(ctx, t.Instance); err == nil {
		if v, err := d2.value(t.Resource); err == nil && v >= ch.Value {
			res.Outcome = providers.Applied
		}
	}
	if res.Outcome == providers.Processing {
		c.mem.setPending(t.Key(), pendingOrder{value: ch.Value, orderID: orderID, at: c.now()})
	}
	c.mem.remember(ch.Token, params, res, c.now())
	c.log.Info("aad upgrade ordered",
		zap.String("target", t.Key()), zap.Float64("from", cur), zap.Float64("to", ch.Value),
		zap.String("order_id", orderID), zap.String("outcome", string(res.Outcome)), zap.String("request_id", reqID))
	return res, nil
}

func checkTarget(op string, t providers.Target) error {
	if _, ok := resourceFields[t.Resource]; !ok {
		names := make([]string, 0, len(resourceFields))
		for r := range resourceFields {
			names = append(names, string(r))
		}
		sort.Strings(names)
		return refusal(providers.ClassInvalid, op, fmt.Sprintf("%s does not manage resource %q (it manages %s)", TypeName, t.Resource, strings.Join(names, ", ")))
	}
	if !providers.ValidInstanceID(t.Instance) {
		return refusal(providers.ClassInvalid, op, fmt.Sprintf("instance ID %q is not valid", t.Instance))
	}
	return nil
}

func checkChange(ch providers.Change) error {
	if err := checkTarget(opUpgrade, ch.Target); err != nil {
		return err
	}
	switch {
	case ch.Temporary != nil:
		return refusal(providers.ClassInvalid, opUpgrade, "AAD has no temporary upgrades")
	case ch.Name != "":
		return refusal(providers.ClassInvalid, opUpgrade, fmt.Sprintf("%s takes a number, not the name %q", ch.Target.Resource, ch.Name))
	case ch.Value < 0 || ch.Value > math.MaxInt32 || ch.Value != math.Trunc(ch.Value) || math.IsNaN(ch.Value):
		return refusal(providers.ClassInvalid, opUpgrade, fmt.Sprintf("%s takes a whole number from 0 to %d, not %v", ch.Target.Resource, math.MaxInt32, ch.Value))
	}
	return nil
}

// upgradeRequest is the body of PUT /v2/aad/instance. The Gbit/s
// bandwidths are strings, the rest integers.
type upgradeRequest struct {
	InstanceID  string      `json:"instance_id"`
	UpgradeData upgradeData `json:"upgrade_data"`
}

type upgradeData struct {
	BasicBandwidth              *string `json:"basic_bandwidth,omitempty"`
	ElasticBandwidth            *string `json:"elastic_bandwidth,omitempty"`
	ServiceBandwidth            *int64  `json:"service_bandwidth,omitempty"`
	PortNum                     *int64  `json:"port_num,omitempty"`
	BindDomainNum               *int64  `json:"bind_domain_num,omitempty"`
	ElasticServiceBandwidthType *int64  `json:"elastic_service_bandwidth_type,omitempty"`
	ElasticServiceBandwidth     *int64  `json:"elastic_service_bandwidth,omitempty"`
	BasicQPS                    *int64  `json:"basic_qps,omitempty"`
}

// upgradeDataFor sets the one field of r. Enabling elastic service
// bandwidth (type 0 or absent) also sets its type to 95th-percentile
// billing, the only type the API documents.
func upgradeDataFor(r providers.Resource, v int64, d *instanceDetail) upgradeData {
	var u upgradeData
	s := strconv.FormatInt(v, 10)
	switch r {
	case providers.AADBasicBandwidth:
		u.BasicBandwidth = &s
	case providers.AADElasticBandwidth:
		u.ElasticBandwidth = &s
	case providers.AADServiceBandwidth:
		u.ServiceBandwidth = &v
	case providers.AADPorts:
		u.PortNum = &v
	case providers.AADDomains:
		u.BindDomainNum = &v
	case providers.AADBasicQPS:
		u.BasicQPS = &v
	case providers.AADElasticServiceBandwidth:
		u.ElasticServiceBandwidth = &v
		if !d.elasticServiceEnabled() {
			typ := int64(ElasticServiceBandwidthType95th)
			u.ElasticServiceBandwidthType = &typ
		}
	}
	return u
}

type upgradeResponse struct {
	OrderID json.RawMessage `json:"order_id"` // a string; a number is accepted too
}

// instanceDetail is the answer of GET /v2/aad/instances/{instance_id}.
type instanceDetail struct {
	InstanceName    string           `json:"instance_name"`
	ExpireTime      *flexInt         `json:"expire_time"`
	CurrentTime     *flexInt         `json:"current_time"`
	ProductSpecData *productSpecData `json:"product_spec_data"`
	InstanceConfig  *struct {
		FreezeType []int `json:"freeze_type"`
	} `json:"instance_config"`
	ElasticServiceBwUpdateEnable *bool `json:"elastic_service_bw_update_enable"`
}

type productSpecData struct {
	BasicBandwidth              *flexInt `json:"basic_bandwidth"`
	ElasticBandwidth            *flexInt `json:"elastic_bandwidth"`
	ServiceBandwidth            *flexInt `json:"service_bandwidth"`
	PortNum                     *flexInt `json:"port_num"`
	BindDomainNum               *flexInt `json:"bind_domain_num"`
	ElasticServiceBandwidth     *flexInt `json:"elastic_service_bandwidth"`
	ElasticServiceBandwidthType *flexInt `json:"elastic_service_bandwidth_type"`
	// BasicQPS is not in the documented response; read when present.
	BasicQPS *flexInt `json:"basic_qps"`
}

// value returns the resource's current value. A documented field that is
// absent reads as 0 (the SDK models omit zero values); basic_qps, which the
// documented response does not carry, is an error when absent: without it
// the adapter cannot know that a change is an upgrade.
func (d *instanceDetail) value(r providers.Resource) (float64, error) {
	p := d.ProductSpecData
	if p == nil {
		p = &productSpecData{}
	}
	var f *flexInt
	switch r {
	case providers.AADBasicBandwidth:
		f = p.BasicBandwidth
	case providers.AADElasticBandwidth:
		f = p.ElasticBandwidth
	case providers.AADServiceBandwidth:
		f = p.ServiceBandwidth
	case providers.AADPorts:
		f = p.PortNum
	case providers.AADDomains:
		f = p.BindDomainNum
	case providers.AADElasticServiceBandwidth:
		if !d.elasticServiceEnabled() {
			return 0, nil
		}
		f = p.ElasticServiceBandwidth
	case providers.AADBasicQPS:
		if p.BasicQPS == nil {
			return 0, refusal(providers.ClassInvalid, opShow,
				"the instance detail reports no basic_qps, so an aad_basic_qps change cannot be checked to be an upgrade; enable QPS on the console first")
		}
		f = p.BasicQPS
	}
	if f == nil {
		return 0, nil
	}
	return float64(f.v), nil
}

func (d *instanceDetail) elasticServiceEnabled() bool {
	p := d.ProductSpecData
	if p == nil || p.ElasticServiceBandwidthType == nil {
		return p != nil && p.ElasticServiceBandwidth != nil && p.ElasticServiceBandwidth.v > 0
	}
	return p.ElasticServiceBandwidthType.v != 0
}

func (d *instanceDetail) updatable(r providers.Resource) bool {
	if r == providers.AADElasticServiceBandwidth && d.ElasticServiceBwUpdateEnable != nil {
		return *d.ElasticServiceBwUpdateEnable
	}
	return true
}

func (d *instanceDetail) freezeTypes() []int {
	if d.InstanceConfig == nil {
		return nil
	}
	return d.InstanceConfig.FreezeType
}

func (d *instanceDetail) status(now time.Time) string {
	if len(d.freezeTypes()) > 0 {
		return StatusFrozen
	}
	if exp := d.expiry(); !exp.IsZero() {
		at := now
		if d.CurrentTime != nil {
			at = epoch(d.CurrentTime.v)
		}
		if !at.Before(exp) {
			return StatusExpired
		}
	}
	return StatusNormal
}

func (d *instanceDetail) expiry() time.Time {
	if d.ExpireTime == nil || d.ExpireTime.v <= 0 {
		return time.Time{}
	}
	return epoch(d.ExpireTime.v)
}

// epoch converts an AAD timestamp. The docs say only "Integer"; the SDK
// models it as int32, i.e. seconds, but Huawei APIs often use milliseconds,
// so values too large for seconds are read as milliseconds.
func epoch(v int64) time.Time {
	if v > 1e11 {
		return time.UnixMilli(v)
	}
	return time.Unix(v, 0)
}

// flexInt reads a JSON integer, or an integer in a string.
type flexInt struct{ v int64 }

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		f.v = v
		return nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || x != math.Trunc(x) {
		return fmt.Errorf("want an integer, got %s", b)
	}
	f.v = int64(x)
	return nil
}

func (c *Client) show(ctx context.Context, instance string) (*instanceDetail, error) {
	var d instanceDetail
	if _, err := c.do(ctx, opShow, http.MethodGet, "/v2/aad/instances/"+url.PathEscape(instance), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

const maxBody = 1 << 20

// do sends one authenticated call under the client's timeout and decodes a
// 200 answer into out. Every failure is a *providers.Error.
func (c *Client) do(ctx context.Context, op, method, path string, body []byte, out any) (requestID string, err error) {
	start := c.now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	log := c.log.With(zap.String("op", op), zap.String("method", method), zap.String("path", path))

	u := *c.base
	u.Path = c.base.Path + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", refusal(providers.ClassInvalid, op, "build request: "+err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	switch c.auth.mode {
	case AuthAKSK:
		req.Header.Set(headerDomainID, c.auth.domainID)
		c.auth.signer.sign(req, body, c.now())
	case AuthToken:
		tok, err := c.auth.token()
		if err != nil {
			pe := refusal(providers.ClassAccount, op, "read token: "+err.Error())
			log.Debug("aad call not sent", zap.Error(pe))
			return "", pe
		}
		req.Header.Set(headerAuthToken, tok)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		pe := providers.TransportError(TypeName, op, unwrapURLError(err))
		log.Debug("aad call failed", zap.Duration("took", c.now().Sub(start)), zap.Error(pe))
		return "", pe
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		pe := providers.TransportError(TypeName, op, err)
		log.Debug("aad call failed", zap.Int("status", resp.StatusCode), zap.Error(pe))
		return "", pe
	}
	requestID = resp.Header.Get(headerRequestID)
	fields := []zap.Field{zap.Int("status", resp.StatusCode), zap.String("request_id", requestID), zap.Duration("took", c.now().Sub(start))}

	if resp.StatusCode != http.StatusOK {
		pe := apiError(op, resp, b, c.now())
		log.Debug("aad call refused", append(fields, zap.String("class", pe.Class.String()), zap.String("code", pe.Code), zap.String("message", pe.Message))...)
		return pe.RequestID, pe
	}
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil {
		if code, _, _, ok := eb.parsed(); ok && !successCodes[code] {
			pe := apiError(op, resp, b, c.now())
			log.Debug("aad call refused in a 200 answer", append(fields, zap.String("class", pe.Class.String()), zap.String("code", pe.Code), zap.String("message", pe.Message))...)
			return pe.RequestID, pe
		}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			pe := providers.TransportError(TypeName, op, fmt.Errorf("decode %s answer: %w", op, err))
			pe.HTTPStatus, pe.RequestID = resp.StatusCode, requestID
			log.Debug("aad call answered badly", append(fields, zap.Error(pe))...)
			return requestID, pe
		}
	}
	log.Debug("aad call", fields...)
	return requestID, nil
}

// unwrapURLError drops *url.Error's wrapping: its text repeats the URL and
// the method, which the *providers.Error already says. The cause (a
// context error, a net.Error) stays matchable.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Resources lists the resources the AAD provider changes.
func Resources() []providers.Resource {
	out := make([]providers.Resource, 0, len(resourceFields))
	for r := range resourceFields {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
