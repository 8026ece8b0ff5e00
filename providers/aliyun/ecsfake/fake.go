// Package ecsfake is a fake of the Alibaba Cloud ECS API (version 2014-05-26)
// that the official Go SDK can talk to over plain HTTP on loopback. It
// answers DescribeInstances, ModifyInstanceNetworkSpec and ModifyInstanceSpec
// as the documentation describes them:
//
//   - it verifies each request's signature as the real API does, V3
//     (ACS3-HMAC-SHA256, the SignedHeaders named in the Authorization header)
//     or V1 (HMAC-SHA1), with the timestamp window, nonce reuse and STS
//     security token;
//   - it checks required parameters and their formats, and the documented
//     rules that depend on the instance (status, billing, ranges, temporary
//     upgrade conditions);
//   - it answers with the documented success bodies and the documented error
//     bodies {"RequestId","HostId","Code","Message","Recommend"} with their
//     HTTP status.
//
// The rules that need memory (the lock after a change, the downgrade quota of
// subscription instances, idempotency by ClientToken, temporary upgrades that
// revert by themselves, the ledger of accepted changes) are kept by a
// simcloud.Cloud, whose codes the fake translates into Alibaba's. The
// instance's Alibaba attributes (status, billing methods, EIP, operation
// locks) stay in the fake; simcloud sees every instance as Running.
//
// Known differences from the real API, all on purpose: one bandwidth
// (InternetMaxBandwidthOut or In) per ModifyInstanceNetworkSpec call, no
// billing-method switch, no ModifyInstanceSpec Temporary.* (an invitational
// preview), and the code of the 5-minute lock, which no document names, is
// answered as OperationConflict (409).
package ecsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
)

// APIVersion is the ECS API version the fake serves.
const APIVersion = "2014-05-26"

// Layouts of the temporary upgrade window in ModifyInstanceNetworkSpec.
const (
	StartTimeLayout = "2006-01-02T15:04Z" // minute precision
	EndTimeLayout   = "2006-01-02T15Z"    // hour precision
)

// Key is an access key the fake accepts.
type Key struct {
	AccessKeyID     string
	AccessKeySecret string
	// SecurityToken, when set, makes this an STS key: every request must
	// carry the token.
	SecurityToken string
}

// Config configures a Server.
type Config struct {
	// Region is the only RegionId the fake serves (default cn-hangzhou).
	Region string
	Keys   []Key
	// Rules are simcloud's rules (lock, downgrade quota, token memory).
	// Zero means simcloud.DefaultRules(). DowngradesPerCycle applies to
	// subscription instances only, as on ECS.
	Rules *simcloud.Rules
	// Now is the fake's clock (default time.Now). Signature timestamps are
	// checked against it too.
	Now func() time.Time
	// InstanceTypes is the catalogue ModifyInstanceSpec accepts (default a
	// few g6/c6 types).
	InstanceTypes []string
	// NumericOrderID answers OrderId as a JSON number, as the doc sample
	// does in places, instead of a string.
	NumericOrderID bool
}

// Instance is one instance as DescribeInstances shows it.
type Instance struct {
	ID                 string
	Status             string // Pending, Running, Starting, Stopping, Stopped
	InstanceChargeType string // PrePaid or PostPaid
	InternetChargeType string // PayByTraffic or PayByBandwidth
	InstanceType       string
	BandwidthOut       int
	BandwidthIn        int
	ExpiredTime        time.Time
	// EIP: an elastic IP is bound (no temporary upgrade then).
	EIP bool
	// LockReasons are OperationLocks (financial, security, …).
	LockReasons []string
}

func (in Instance) prepaid() bool { return in.InstanceChargeType == "PrePaid" }

func (in Instance) temporaryEligible() bool {
	return in.prepaid() && in.InternetChargeType == "PayByBandwidth" && !in.EIP
}

// Fault is a documented error answer.
type Fault struct {
	HTTPStatus int
	Code       string
	Message    string
	// TimeLeft, when non-zero, is sent in the x-ratelimit-user-api header
	// ("Limit:…,Remain:0,TimeLeft:<ms>,Reset:…").
	TimeLeft int
}

// Call is one authenticated request the fake received.
type Call struct {
	Action string
	// Params are the API parameters, without the V1 common parameters.
	Params url.Values
	// Scheme is "v3" or "v1".
	Scheme string
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	cfg      Config
	prepaid  *simcloud.Cloud
	postpaid *simcloud.Cloud

	mu        sync.Mutex
	instances map[string]*Instance
	faults    []Fault
	nonces    map[string]time.Time
	calls     []Call
	hang      chan struct{}
	seq       int
}

// New returns a fake with no instances.
func New(cfg Config) (*Server, error) {
	if cfg.Region == "" {
		cfg.Region = "cn-hangzhou"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.InstanceTypes) == 0 {
		cfg.InstanceTypes = []string{"ecs.g6.large", "ecs.g6.xlarge", "ecs.g6.2xlarge", "ecs.c6.large", "ecs.c6.xlarge"}
	}
	rules := simcloud.DefaultRules()
	if cfg.Rules != nil {
		rules = *cfg.Rules
	}
	// simcloud checks a value range per resource; the fake checks ECS's
	// instance-dependent ranges itself, so simcloud's only needs to be wide.
	rules.Ranges = map[providers.Resource]simcloud.Range{
		providers.BandwidthOut: {Min: 0, Max: 200},
		providers.BandwidthIn:  {Min: 1, Max: 200},
	}
	prepaid, err := simcloud.New(rules, simcloud.WithClock(cfg.Now), simcloud.WithSeed(1))
	if err != nil {
		return nil, err
	}
	postRules := rules
	postRules.DowngradesPerCycle = 0
	postpaid, err := simcloud.New(postRules, simcloud.WithClock(cfg.Now), simcloud.WithSeed(2))
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, prepaid: prepaid, postpaid: postpaid,
		instances: map[string]*Instance{}, nonces: map[string]time.Time{}}, nil
}

func (s *Server) cloudOf(in *Instance) *simcloud.Cloud {
	if in.prepaid() {
		return s.prepaid
	}
	return s.postpaid
}

// Put creates or replaces an instance; replacing resets its lock, quota and
// temporary upgrades. An instance keeps its InstanceChargeType for life.
func (s *Server) Put(in Instance) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.instances[in.ID]; ok && old.prepaid() != in.prepaid() {
		return fmt.Errorf("ecsfake: instance %s cannot change its InstanceChargeType", in.ID)
	}
	if in.Status == "" {
		in.Status = "Running"
	}
	if in.InstanceChargeType == "" {
		in.InstanceChargeType = "PostPaid"
	}
	if in.InternetChargeType == "" {
		in.InternetChargeType = "PayByTraffic"
	}
	cp := in
	cp.LockReasons = slices.Clone(in.LockReasons)
	err := s.cloudOf(&cp).Put(simcloud.Instance{
		ID: in.ID, Status: "Running", Prepaid: in.prepaid(), Temporary: in.temporaryEligible(),
		Values: map[providers.Resource]float64{
			providers.BandwidthOut: float64(in.BandwidthOut),
			providers.BandwidthIn:  float64(in.BandwidthIn),
		},
		Names: map[providers.Resource]string{providers.InstanceType: in.InstanceType},
	})
	if err != nil {
		return err
	}
	s.instances[in.ID] = &cp
	return nil
}

// SetStatus changes an instance's status.
func (s *Server) SetStatus(id, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	if !ok {
		return fmt.Errorf("ecsfake: no instance %s", id)
	}
	in.Status = status
	return nil
}

// Get returns an instance as DescribeInstances would show it now.
func (s *Server) Get(id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	if !ok {
		return Instance{}, false
	}
	return s.viewLocked(in), true
}

func (s *Server) viewLocked(in *Instance) Instance {
	v := *in
	v.LockReasons = slices.Clone(in.LockReasons)
	for _, si := range s.cloudOf(in).Instances() {
		if si.ID == in.ID {
			v.BandwidthOut = int(si.Values[providers.BandwidthOut])
			v.BandwidthIn = int(si.Values[providers.BandwidthIn])
			v.InstanceType = si.Names[providers.InstanceType]
		}
	}
	return v
}

// Inject makes the fake answer the next write call (ModifyInstanceNetworkSpec
// or ModifyInstanceSpec) with f instead of doing anything. Faults queue.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Changes returns how many changes the fake has accepted.
func (s *Server) Changes() int { return len(s.prepaid.Ledger()) + len(s.postpaid.Ledger()) }

// Ledger returns every accepted change, subscription instances first.
func (s *Server) Ledger() []simcloud.Entry {
	return append(s.prepaid.Ledger(), s.postpaid.Ledger()...)
}

// Calls returns every authenticated request, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = Call{Action: c.Action, Params: cloneValues(c.Params), Scheme: c.Scheme}
	}
	return out
}

// Hang makes every request block until the client gives up or the returned
// func is called.
func (s *Server) Hang() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hang = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hang == ch {
				s.hang = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// apiError is an error answer.
type apiError struct {
	status   int
	code     string
	msg      string
	timeLeft int
}

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.hang
	s.mu.Unlock()
	if h != nil {
		select {
		case <-h:
		case <-r.Context().Done():
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	call, aerr := s.authenticate(r, body)
	if aerr == nil {
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		var out any
		out, aerr = s.dispatch(call)
		if aerr == nil {
			s.write(w, http.StatusOK, out)
			return
		}
	}
	s.writeError(w, r, aerr)
}

func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("473469C7-AA6F-4DC5-B3DB-%012X", s.seq)
}

func (s *Server) write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// errorBody is the documented error body, in its documented field order.
type errorBody struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	id := s.requestID()
	if e.timeLeft > 0 {
		w.Header().Set("x-ratelimit-user-api", fmt.Sprintf("Limit:1000,Remain:0,TimeLeft:%d,Reset:%d", e.timeLeft, s.cfg.Now().Add(time.Duration(e.timeLeft)*time.Millisecond).Unix()))
	}
	s.write(w, e.status, errorBody{RequestID: id, HostID: r.Host, Code: e.code, Message: e.msg,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) + "&product=Ecs&requestId=" + id})
}

// The V1 common parameters, which are not API parameters.
var v1Common = []string{"AccessKeyId", "Action", "Format", "Signature", "SignatureMethod", "SignatureNonce",
	"SignatureVersion", "Timestamp", "Version", "SecurityToken", "SignatureType"}

// authenticate verifies the signature and returns the call.
func (s *Server) authenticate(r *http.Request, body []byte) (Call, *apiError) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return Call{}, fail(400, "UnsupportedHTTPMethod", "This http method is not supported.")
	}
	// Decode the wire query ('+' is a space there) and, for a form body,
	// the form: signatures are computed over decoded values re-encoded
	// canonically.
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Call{}, fail(400, "InvalidParameter", "The query string is malformed.")
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return Call{}, fail(400, "InvalidParameter", "The form body is malformed.")
		}
		for k, vs := range form {
			params[k] = append(params[k], vs...)
		}
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		return s.verifyV3(r, auth, params, body)
	}
	if params.Get("Signature") != "" {
		return s.verifyV1(r, params)
	}
	return Call{}, fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
}

func (s *Server) key(id string) (Key, bool) {
	for _, k := range s.cfg.Keys {
		if k.AccessKeyID == id {
			return k, true
		}
	}
	return Key{}, false
}

// checkFresh checks the timestamp window (15 minutes) and nonce reuse.
func (s *Server) checkFresh(ts time.Time, nonce string) *apiError {
	now := s.cfg.Now()
	if d := now.Sub(ts); d > 15*time.Minute || d < -15*time.Minute {
		return fail(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
	}
	if nonce == "" {
		return fail(400, "MissingSignatureNonce", "SignatureNonce is mandatory for this action.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, used := s.nonces[nonce]; used {
		return fail(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	for n, at := range s.nonces {
		if now.Sub(at) > 30*time.Minute {
			delete(s.nonces, n)
		}
	}
	s.nonces[nonce] = now
	return nil
}

func (s *Server) verifyV3(r *http.Request, auth string, query url.Values, body []byte) (Call, *apiError) {
	akID, signed, sig, ok := V3Authorization(auth)
	if !ok {
		return Call{}, fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
	}
	key, ok := s.key(akID)
	if !ok {
		return Call{}, fail(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	if !slices.IsSorted(signed) {
		return Call{}, fail(400, "IncompleteSignature", "SignedHeaders must be sorted.")
	}
	for _, must := range []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"} {
		if !slices.Contains(signed, must) {
			return Call{}, fail(400, "IncompleteSignature", "The header %s must be signed.", must)
		}
	}
	headers := map[string]string{}
	for _, name := range signed {
		if name == "host" {
			headers[name] = r.Host
			continue
		}
		headers[name] = strings.Join(r.Header.Values(name), ",")
	}
	payload := headers["x-acs-content-sha256"]
	if payload != HashHex(body) {
		return Call{}, fail(400, "InvalidParameter.ContentSHA256", "x-acs-content-sha256 does not match the body.")
	}
	canonical := V3CanonicalRequest(r.Method, r.URL.EscapedPath(), query, headers, signed, payload)
	if want := V3Signature(key.AccessKeySecret, V3StringToSign(canonical)); want != sig {
		return Call{}, fail(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", canonical)
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", headers["x-acs-date"])
	if err != nil {
		return Call{}, fail(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
	}
	if key.SecurityToken != "" || r.Header.Get("x-acs-security-token") != "" {
		if !slices.Contains(signed, "x-acs-security-token") || headers["x-acs-security-token"] != key.SecurityToken || headers["x-acs-accesskey-id"] != akID {
			return Call{}, fail(400, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey.")
		}
	}
	if aerr := s.checkFresh(ts, headers["x-acs-signature-nonce"]); aerr != nil {
		return Call{}, aerr
	}
	if v := headers["x-acs-version"]; v != APIVersion {
		return Call{}, fail(400, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	return Call{Action: headers["x-acs-action"], Params: query, Scheme: "v3"}, nil
}

func (s *Server) verifyV1(r *http.Request, params url.Values) (Call, *apiError) {
	for _, must := range []string{"AccessKeyId", "Action", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp", "Version"} {
		if params.Get(must) == "" {
			return Call{}, fail(400, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", must)
		}
	}
	if params.Get("SignatureMethod") != "HMAC-SHA1" || params.Get("SignatureVersion") != "1.0" {
		return Call{}, fail(400, "InvalidParameter", "SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0.")
	}
	key, ok := s.key(params.Get("AccessKeyId"))
	if !ok {
		return Call{}, fail(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	sts := V1StringToSign(r.Method, params)
	if want := V1Signature(key.AccessKeySecret, sts); want != params.Get("Signature") {
		return Call{}, fail(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", params.Get("Timestamp"))
	if err != nil {
		return Call{}, fail(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
	}
	if (key.SecurityToken != "" || params.Has("SecurityToken")) && params.Get("SecurityToken") != key.SecurityToken {
		return Call{}, fail(400, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey.")
	}
	if aerr := s.checkFresh(ts, params.Get("SignatureNonce")); aerr != nil {
		return Call{}, aerr
	}
	if params.Get("Version") != APIVersion {
		return Call{}, fail(400, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	switch f := params.Get("Format"); f {
	case "", "json", "JSON":
	default:
		return Call{}, fail(400, "InvalidParameter.Format", "The fake answers JSON only, not %q.", f)
	}
	action := params.Get("Action")
	api := cloneValues(params)
	for _, k := range v1Common {
		api.Del(k)
	}
	return Call{Action: action, Params: api, Scheme: "v1"}, nil
}

func (s *Server) dispatch(c Call) (any, *apiError) {
	switch c.Action {
	case "DescribeInstances":
		return s.describeInstances(c.Params)
	case "ModifyInstanceNetworkSpec":
		return s.modifyNetworkSpec(c.Params)
	case "ModifyInstanceSpec":
		return s.modifyInstanceSpec(c.Params)
	}
	return nil, fail(400, "InvalidAction", "Specified action is not valid.")
}

// params is a checker of one call's parameters.
type params struct {
	v url.Values
}

func (p params) unknown(allowed ...string) *apiError {
	for k := range p.v {
		if !slices.Contains(allowed, k) {
			return fail(400, "InvalidParameter", "The specified parameter %q is not valid.", k)
		}
	}
	return nil
}

func (p params) required(name string) (string, *apiError) {
	v := p.v.Get(name)
	if v == "" {
		return "", fail(400, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", name)
	}
	return v, nil
}

func (p params) integer(name string) (int, bool, *apiError) {
	if !p.v.Has(name) {
		return 0, false, nil
	}
	n, err := strconv.Atoi(p.v.Get(name))
	if err != nil {
		return 0, false, fail(400, "InvalidParameter", "The specified parameter %q is not valid.", name)
	}
	return n, true, nil
}

// instanceAndBandwidths reads InstanceId (required) and the two optional
// bandwidths that both write calls take.
func (p params) instanceAndBandwidths() (id string, out int, hasOut bool, in int, hasIn bool, aerr *apiError) {
	if id, aerr = p.required("InstanceId"); aerr != nil {
		return
	}
	if out, hasOut, aerr = p.integer("InternetMaxBandwidthOut"); aerr != nil {
		return
	}
	in, hasIn, aerr = p.integer("InternetMaxBandwidthIn")
	return
}

func (p params) boolean(name string) *apiError {
	switch p.v.Get(name) {
	case "", "true", "false":
		return nil
	}
	return fail(400, "InvalidParameter", "The specified parameter %q is not valid.", name)
}

func (p params) clientToken() (string, *apiError) {
	tok := p.v.Get("ClientToken")
	if len(tok) > 64 {
		return "", fail(400, "InvalidClientToken.ValueNotSupported", "The ClientToken provided is invalid.")
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x20 || tok[i] > 0x7e {
			return "", fail(400, "InvalidClientToken.ValueNotSupported", "The ClientToken provided is invalid.")
		}
	}
	return tok, nil
}

// instanceView is one element of DescribeInstances' Instances.Instance.
type instanceView struct {
	InstanceID              string `json:"InstanceId"`
	RegionID                string `json:"RegionId"`
	Status                  string `json:"Status"`
	InstanceType            string `json:"InstanceType"`
	InstanceChargeType      string `json:"InstanceChargeType"`
	InternetChargeType      string `json:"InternetChargeType"`
	InternetMaxBandwidthOut int    `json:"InternetMaxBandwidthOut"`
	InternetMaxBandwidthIn  int    `json:"InternetMaxBandwidthIn"`
	ExpiredTime             string `json:"ExpiredTime"`
	OperationLocks          struct {
		LockReason []lockReason `json:"LockReason"`
	} `json:"OperationLocks"`
	EipAddress struct {
		AllocationID       string `json:"AllocationId"`
		IPAddress          string `json:"IpAddress"`
		InternetChargeType string `json:"InternetChargeType"`
	} `json:"EipAddress"`
	PublicIPAddress struct {
		IPAddress []string `json:"IpAddress"`
	} `json:"PublicIpAddress"`
}

type lockReason struct {
	LockReason string `json:"LockReason"`
}

func (s *Server) describeInstances(v url.Values) (any, *apiError) {
	p := params{v}
	if aerr := p.unknown("RegionId", "InstanceIds", "PageSize", "PageNumber", "MaxResults", "NextToken"); aerr != nil {
		return nil, aerr
	}
	region, aerr := p.required("RegionId")
	if aerr != nil {
		return nil, aerr
	}
	if region != s.cfg.Region {
		return nil, fail(404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.")
	}
	var ids []string
	if raw := v.Get("InstanceIds"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &ids); err != nil || len(ids) > 100 {
			return nil, fail(400, "InvalidInstanceIds.MalFormed", "The specified parameter InstanceIds is not valid.")
		}
	}
	pageSize, has, aerr := p.integer("PageSize")
	if aerr != nil {
		return nil, aerr
	}
	if !has {
		pageSize = 10
	}
	if pageSize < 1 || pageSize > 100 {
		return nil, fail(400, "InvalidParameter", "The specified parameter \"PageSize\" is not valid.")
	}
	pageNumber, has, aerr := p.integer("PageNumber")
	if aerr != nil {
		return nil, aerr
	}
	if !has {
		pageNumber = 1
	}
	if pageNumber < 1 {
		return nil, fail(400, "InvalidParameter", "The specified parameter \"PageNumber\" is not valid.")
	}

	s.mu.Lock()
	var views []instanceView
	for _, id := range s.sortedIDsLocked() {
		if ids != nil && !slices.Contains(ids, id) {
			continue
		}
		in := s.viewLocked(s.instances[id])
		iv := instanceView{InstanceID: in.ID, RegionID: s.cfg.Region, Status: in.Status, InstanceType: in.InstanceType,
			InstanceChargeType: in.InstanceChargeType, InternetChargeType: in.InternetChargeType,
			InternetMaxBandwidthOut: in.BandwidthOut, InternetMaxBandwidthIn: in.BandwidthIn}
		iv.ExpiredTime = "2099-12-31T15:59Z" // what ECS shows for pay-as-you-go
		if in.prepaid() && !in.ExpiredTime.IsZero() {
			iv.ExpiredTime = in.ExpiredTime.UTC().Format("2006-01-02T15:04Z")
		}
		iv.OperationLocks.LockReason = []lockReason{}
		for _, l := range in.LockReasons {
			iv.OperationLocks.LockReason = append(iv.OperationLocks.LockReason, lockReason{LockReason: l})
		}
		iv.PublicIPAddress.IPAddress = []string{}
		if in.EIP {
			iv.EipAddress.AllocationID = "eip-" + in.ID
			iv.EipAddress.IPAddress = "47.0.0.2"
		} else if in.BandwidthOut > 0 {
			iv.PublicIPAddress.IPAddress = []string{"47.0.0.1"}
		}
		views = append(views, iv)
	}
	s.mu.Unlock()

	total := len(views)
	start := min((pageNumber-1)*pageSize, total)
	end := min(start+pageSize, total)
	page := views[start:end]
	if page == nil {
		page = []instanceView{}
	}
	type instances struct {
		Instance []instanceView `json:"Instance"`
	}
	return struct {
		RequestID  string    `json:"RequestId"`
		TotalCount int       `json:"TotalCount"`
		PageNumber int       `json:"PageNumber"`
		PageSize   int       `json:"PageSize"`
		NextToken  string    `json:"NextToken"`
		Instances  instances `json:"Instances"`
	}{s.requestID(), total, pageNumber, pageSize, "", instances{page}}, nil
}

func (s *Server) sortedIDsLocked() []string {
	ids := make([]string, 0, len(s.instances))
	for id := range s.instances {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// popFaultLocked returns the next injected fault, if any.
func (s *Server) popFaultLocked() *apiError {
	if len(s.faults) == 0 {
		return nil
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return &apiError{status: f.HTTPStatus, code: f.Code, msg: f.Message, timeLeft: f.TimeLeft}
}

// lockError is the answer for an instance with operation locks.
func lockError(in *Instance) *apiError {
	for _, l := range in.LockReasons {
		switch l {
		case "security":
			return fail(403, "InstanceLockedForSecurity", "The specified operation is denied as your instance is locked for security reasons.")
		case "financial":
			return fail(403, "InstanceExpiredOrInArrears", "The specified operation is denied as your prepay instance is expired (prepay mode) or in arrears (afterpay mode).")
		}
	}
	return nil
}

func (s *Server) modifyNetworkSpec(v url.Values) (any, *apiError) {
	p := params{v}
	if aerr := p.unknown("InstanceId", "InternetMaxBandwidthOut", "InternetMaxBandwidthIn", "NetworkChargeType",
		"AllocatePublicIp", "StartTime", "EndTime", "AutoPay", "ClientToken"); aerr != nil {
		return nil, aerr
	}
	id, out, hasOut, in, hasIn, aerr := p.instanceAndBandwidths()
	if aerr != nil {
		return nil, aerr
	}
	for _, b := range []string{"AutoPay", "AllocatePublicIp"} {
		if aerr := p.boolean(b); aerr != nil {
			return nil, aerr
		}
	}
	switch v.Get("NetworkChargeType") {
	case "":
	case "PayByTraffic", "PayByBandwidth":
		return nil, fail(400, "InvalidParameter.Conflict", "The fake does not switch billing methods.")
	default:
		return nil, fail(400, "InvalidInternetChargeType.ValueNotSupported", "The specified InternetChargeType is invalid.")
	}
	token, aerr := p.clientToken()
	if aerr != nil {
		return nil, aerr
	}
	switch {
	case hasOut && hasIn:
		return nil, fail(400, "InvalidParameter.Conflict", "The fake changes one of InternetMaxBandwidthOut and InternetMaxBandwidthIn per call.")
	case !hasOut && !hasIn:
		return nil, fail(400, "MissingParameter", "The input parameter \"InternetMaxBandwidthOut\" that is mandatory for processing this request is not supplied.")
	}
	var window *providers.Window
	if v.Has("StartTime") || v.Has("EndTime") {
		w, aerr := s.window(v.Get("StartTime"), v.Get("EndTime"))
		if aerr != nil {
			return nil, aerr
		}
		if !hasOut {
			return nil, fail(400, "InvalidParameter.Bandwidth", "A temporary upgrade takes InternetMaxBandwidthOut.")
		}
		window = w
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.popFaultLocked(); f != nil {
		return nil, f
	}
	inst, ok := s.instances[id]
	if !ok {
		return nil, fail(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
	}
	if aerr := lockError(inst); aerr != nil {
		return nil, aerr
	}
	if inst.Status != "Running" && inst.Status != "Stopped" {
		return nil, fail(403, "IncorrectInstanceStatus", "The current status of the instance does not support this operation.")
	}
	cur := s.viewLocked(inst)
	ch := providers.Change{Target: providers.Target{Account: "ecs", Instance: id}, Token: token, Temporary: window}
	if hasOut {
		maxOut := 100
		if inst.prepaid() && inst.InternetChargeType == "PayByBandwidth" {
			maxOut = 200
		}
		if out < 0 || out > maxOut {
			return nil, fail(400, "InvalidInternetMaxBandwidthOut.ValueNotSupported", "The specified InternetMaxBandwidthOut is beyond the permitted range.")
		}
		if window != nil {
			if inst.EIP {
				return nil, fail(400, "BandwidthUpgradeDenied.EipBoundInstance", "The specified VPC instance has bound EIP, temporary bandwidth upgrade is denied.")
			}
			if !inst.temporaryEligible() {
				return nil, fail(403, "ChargeTypeViolation", "The operation is not permitted due to billing method of the instance.")
			}
		} else if inst.prepaid() && inst.InternetChargeType == "PayByBandwidth" && out < cur.BandwidthOut {
			return nil, fail(400, "DecreasedBandwidthNotAllowed", "The pay-by-bandwidth bandwidth of a subscription instance can only be upgraded.")
		}
		ch.Target.Resource, ch.Value = providers.BandwidthOut, float64(out)
	} else {
		if in < 1 || in > max(10, cur.BandwidthOut) {
			return nil, fail(400, "InvalidInternetMaxBandwidthIn.ValueNotSupported", "The specified InternetMaxBandwidthIn is beyond the permitted range.")
		}
		ch.Target.Resource, ch.Value = providers.BandwidthIn, float64(in)
	}
	e, serr := s.cloudOf(inst).Apply(ch)
	if serr != nil {
		return nil, translate("ModifyInstanceNetworkSpec", serr)
	}
	var orderID any = e.OrderID
	if s.cfg.NumericOrderID {
		orderID = json.Number(e.OrderID)
	}
	return struct {
		RequestID string `json:"RequestId"`
		OrderID   any    `json:"OrderId"`
	}{s.requestIDLocked(), orderID}, nil
}

func (s *Server) requestIDLocked() string {
	s.seq++
	return fmt.Sprintf("473469C7-AA6F-4DC5-B3DB-%012X", s.seq)
}

// window checks a temporary upgrade window as ModifyInstanceNetworkSpec does.
func (s *Server) window(start, end string) (*providers.Window, *apiError) {
	if start == "" || end == "" {
		return nil, fail(400, "InvalidStartTime.ValueNotSupported", "StartTime and EndTime go together.")
	}
	st, err := time.Parse(StartTimeLayout, start)
	if err != nil {
		return nil, fail(400, "InvalidStartTime.ValueNotSupported", "StartTime %q is not yyyy-MM-ddTHH:mmZ.", start)
	}
	et, err := time.Parse(EndTimeLayout, end)
	if err != nil {
		return nil, fail(400, "InvalidStartTime.ValueNotSupported", "EndTime %q is not yyyy-MM-ddTHHZ.", end)
	}
	now := s.cfg.Now()
	switch {
	case st.Before(now.Add(-time.Minute)):
		return nil, fail(400, "InvalidStartTime.ValueNotSupported", "StartTime %s is in the past.", start)
	case !et.After(st):
		return nil, fail(400, "InvalidStartTime.ValueNotSupported", "EndTime %s is not after StartTime %s.", end, start)
	case et.Sub(st) < 3*time.Hour:
		return nil, fail(400, "InvalidStartTime.ValueNotSupported", "A temporary upgrade lasts at least 3 hours.")
	case et.After(st.AddDate(0, 6, 0)):
		return nil, fail(400, "InvalidStartTime.ValueNotSupported", "A temporary upgrade lasts at most 6 months.")
	}
	return &providers.Window{Start: st, End: et}, nil
}

func (s *Server) modifyInstanceSpec(v url.Values) (any, *apiError) {
	p := params{v}
	if aerr := p.unknown("InstanceId", "InstanceType", "InternetMaxBandwidthOut", "InternetMaxBandwidthIn",
		"ClientToken", "Async", "DryRun", "AllowMigrateAcrossZone", "SystemDisk.Category", "ModifyMode"); aerr != nil {
		return nil, aerr
	}
	id, out, hasOut, in, hasIn, aerr := p.instanceAndBandwidths()
	if aerr != nil {
		return nil, aerr
	}
	for _, b := range []string{"Async", "DryRun", "AllowMigrateAcrossZone"} {
		if aerr := p.boolean(b); aerr != nil {
			return nil, aerr
		}
	}
	token, aerr := p.clientToken()
	if aerr != nil {
		return nil, aerr
	}
	typ := v.Get("InstanceType")
	n := 0
	for _, has := range []bool{typ != "", hasOut, hasIn} {
		if has {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, fail(400, "InvalidParameter.Mismatch", "Too many parameters in one request.")
	case n == 0:
		return nil, fail(400, "MissingParameter", "The input parameter \"InstanceType\" that is mandatory for processing this request is not supplied.")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.popFaultLocked(); f != nil {
		return nil, f
	}
	inst, ok := s.instances[id]
	if !ok {
		return nil, fail(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
	}
	if aerr := lockError(inst); aerr != nil {
		return nil, aerr
	}
	if inst.prepaid() {
		return nil, fail(403, "ChargeTypeViolation", "The operation is not permitted due to charge type of the instance.")
	}
	ch := providers.Change{Target: providers.Target{Account: "ecs", Instance: id}, Token: token}
	switch {
	case typ != "":
		if inst.Status != "Stopped" {
			return nil, fail(400, "InvalidInstanceStatus.NotStopped", "The specified Instance status is not stopped.")
		}
		if !slices.Contains(s.cfg.InstanceTypes, typ) {
			return nil, fail(400, "InvalidInstanceType.ValueNotSupported", "The specified InstanceType does not exist or beyond the permitted range.")
		}
		ch.Target.Resource, ch.Name = providers.InstanceType, typ
	case hasOut:
		if inst.Status != "Running" && inst.Status != "Stopped" {
			return nil, fail(403, "InvalidStatus.ValueNotSupported", "The current status of the resource does not support this operation.")
		}
		if out < 0 || out > 100 {
			return nil, fail(400, "InvalidParameter", "The specified parameter \"InternetMaxBandwidthOut\" is not valid.")
		}
		ch.Target.Resource, ch.Value = providers.BandwidthOut, float64(out)
	default:
		if inst.Status != "Running" && inst.Status != "Stopped" {
			return nil, fail(403, "InvalidStatus.ValueNotSupported", "The current status of the resource does not support this operation.")
		}
		if in < 1 || in > 200 {
			return nil, fail(400, "InvalidParameter", "The specified parameter \"InternetMaxBandwidthIn\" is not valid.")
		}
		ch.Target.Resource, ch.Value = providers.BandwidthIn, float64(in)
	}
	if v.Get("DryRun") == "true" {
		return nil, fail(400, "DryRunOperation", "Request validation has been passed with DryRun flag set.")
	}
	if _, serr := s.cloudOf(inst).Apply(ch); serr != nil {
		return nil, translate("ModifyInstanceSpec", serr)
	}
	return struct {
		RequestID string `json:"RequestId"`
	}{s.requestIDLocked()}, nil
}

// translate turns a simcloud refusal into the error ECS documents for it.
func translate(action string, e *simcloud.APIError) *apiError {
	switch e.Code {
	case simcloud.CodeThrottling:
		return fail(400, "Throttling", "Request was denied due to request throttling, please try again after 5 minutes.")
	case simcloud.CodeLastOrder:
		return fail(400, "LastOrderProcessing", "The previous order is still processing, please try again later.")
	case simcloud.CodeLocked:
		// No document names the code of the 5-minute lock.
		return fail(409, "OperationConflict", "Request was denied due to conflict with a previous request.")
	case simcloud.CodeQuota:
		return fail(400, "InstanceDowngrade.QuotaExceed", "Quota of instance downgrade is exceed.")
	case simcloud.CodeFrozen:
		return fail(400, "OperationDenied", "After downgrade, you cannot upgrade or downgrade your instances again in the remaining time of the current billing cycle.")
	case simcloud.CodeStatus:
		return fail(403, "IncorrectInstanceStatus", "The current status of the instance does not support this operation.")
	case simcloud.CodeInvalidValue:
		return fail(400, "InvalidParameter.Bandwidth", "%s", e.Message)
	case simcloud.CodeNotFound:
		return fail(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
	case simcloud.CodeArrearage:
		return fail(400, "Account.Arrearage", "Your account has an outstanding payment.")
	case simcloud.CodeTokenMismatch:
		if action == "ModifyInstanceSpec" {
			return fail(400, "IdempotenceParamNotMatch", "There is a idempotence signature mismatch between this and last request.")
		}
		return fail(400, "IdempotentParameterMismatch", "The request uses the same client token as a previous, but non-identical request.")
	case simcloud.CodeTemporaryDenied:
		return fail(400, "BandwidthUpgradeDenied.EipBoundInstance", "The specified VPC instance has bound EIP, temporary bandwidth upgrade is denied.")
	case simcloud.CodeUpgradeOnlyValue:
		return fail(400, "InvalidBandwidth.ValueNotSupported", "Instance upgrade bandwidth of temporary not allow less then existed.")
	}
	return fail(500, "InternalError", "The request processing has failed due to some unknown error.")
}
