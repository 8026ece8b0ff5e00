package huawei

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
)

// fakeAAD is a small fake of the AAD API behind Huawei's API gateway. It
// checks every request the way the gateway and AAD would — the
// SDK-HMAC-SHA256 signature recomputed from the request as received (or the
// X-Auth-Token), X-Domain-Id, X-Sdk-Date within 15 minutes, a key locked
// after 5 signature failures in a row, the path, the method, and the PUT
// body's fields and JSON types — and answers with AAD's documented bodies.
// Instance values and the ledger of accepted changes live in a
// simcloud.Cloud; its refusals are translated to AAD codes.
type fakeAAD struct {
	t     testing.TB
	cloud *simcloud.Cloud

	// Expected credentials: ak/sk/domain for AK/SK, token for token auth.
	ak, sk, domain, token string

	mu        sync.Mutex
	now       func() time.Time
	extra     map[string]*fakeInstance
	inject    *fakeAnswer
	failures  int
	lockedTil time.Time
	hang      chan struct{}
	seq       int
	gets      int
	puts      []map[string]any // upgrade_data of every accepted-for-checking PUT
	unpaid    bool             // accept PUTs but leave the values (an unpaid order)
}

// fakeInstance is what the detail API reports beyond the values.
type fakeInstance struct {
	expire       time.Time
	freezeType   []int
	reportQPS    bool
	esbType      int
	updateEnable *bool
}

type fakeAnswer struct {
	status     int
	body       map[string]string
	retryAfter string
}

const fakeAccount = "aad"

func newFakeAAD(t testing.TB) *fakeAAD {
	rules := simcloud.DefaultRules()
	rules.Lock = 0
	rules.DowngradesPerCycle = 0
	c, err := simcloud.New(rules, simcloud.WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeAAD{t: t, cloud: c, now: time.Now, extra: map[string]*fakeInstance{},
		ak: "AKTESTTESTTESTTEST01", sk: "fake-secret-key-do-not-leak-0123456789", domain: "0970d7b7d400f2470fbec00316a03560"}
}

// put adds an instance with the given values, expiring in 30 days.
func (f *fakeAAD) put(id string, values map[providers.Resource]float64, in fakeInstance) {
	f.t.Helper()
	if err := f.cloud.Put(simcloud.Instance{ID: id, Values: values}); err != nil {
		f.t.Fatal(err)
	}
	if in.expire.IsZero() {
		in.expire = f.now().Add(30 * 24 * time.Hour)
	}
	if len(in.freezeType) > 0 {
		if err := f.cloud.SetStatus(id, "Frozen"); err != nil {
			f.t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extra[id] = &in
}

// injectNext makes the next PUT answer with status and body.
func (f *fakeAAD) injectNext(status int, body map[string]string, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = &fakeAnswer{status: status, body: body, retryAfter: retryAfter}
}

func (f *fakeAAD) changes() int { return len(f.cloud.Ledger()) }

func (f *fakeAAD) counts() (gets, puts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets, len(f.puts)
}

func (f *fakeAAD) lastPut() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.puts) == 0 {
		return nil
	}
	return f.puts[len(f.puts)-1]
}

// Hang makes every request block until release or the client gives up.
func (f *fakeAAD) Hang() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.hang = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			if f.hang == ch {
				f.hang = nil
			}
			f.mu.Unlock()
			close(ch)
		})
	}
}

func (f *fakeAAD) requestID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return fmt.Sprintf("fake-req-%04d", f.seq)
}

func (f *fakeAAD) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := f.requestID()
	w.Header().Set(headerRequestID, reqID)
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if status, code, msg := f.authenticate(r, body); status != 0 {
		writeJSON(w, status, map[string]string{"error_code": code, "error_msg": msg, "request_id": reqID})
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/aad/instances/") && strings.Count(r.URL.Path, "/") == 4:
		f.show(w, strings.TrimPrefix(r.URL.Path, "/v2/aad/instances/"))
	case r.Method == http.MethodPut && r.URL.Path == "/v2/aad/instance":
		f.upgrade(w, body)
	default:
		f.t.Errorf("fake AAD: unexpected %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]string{"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published in the environment", "request_id": reqID})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// authenticate returns a gateway refusal (status, code, message), or 0.
func (f *fakeAAD) authenticate(r *http.Request, body []byte) (int, string, string) {
	if r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("fake AAD: Content-Type %q, want application/json", r.Header.Get("Content-Type"))
	}
	if f.token != "" {
		if r.Header.Get("Authorization") != "" {
			f.t.Errorf("fake AAD: token auth request also carries an Authorization header")
		}
		if got := r.Header.Get(headerAuthToken); got != f.token {
			return http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: decrypt token fail"
		}
		return 0, "", ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Before(f.lockedTil) {
		return http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden."
	}
	if err := f.verifySignature(r, body, now); err != nil {
		f.failures++
		if f.failures > 5 {
			f.lockedTil = now.Add(5 * time.Minute)
		}
		return http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: " + err.Error()
	}
	f.failures = 0
	return 0, "", ""
}

var authzRE = regexp.MustCompile(`^SDK-HMAC-SHA256 Access=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

// verifySignature recomputes the signature from the request as received.
// It is written apart from the adapter's signer on purpose.
func (f *fakeAAD) verifySignature(r *http.Request, body []byte, now time.Time) error {
	m := authzRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return fmt.Errorf("malformed Authorization header")
	}
	access, signedList, sig := m[1], strings.Split(m[2], ";"), m[3]
	if access != f.ak {
		return fmt.Errorf("Get secretKey failed,ak:******,err:ak not exist")
	}
	date, err := time.Parse("20060102T150405Z", r.Header.Get("X-Sdk-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Sdk-Date")
	}
	if d := now.Sub(date); d > 15*time.Minute || d < -15*time.Minute {
		return fmt.Errorf("verify aksk signature fail: X-Sdk-Date more than 15 minutes off")
	}
	if !sort.StringsAreSorted(signedList) {
		return fmt.Errorf("signed headers not sorted")
	}
	need := map[string]bool{"host": false, "x-sdk-date": false, "x-domain-id": false}
	for _, h := range signedList {
		if h != strings.ToLower(h) {
			return fmt.Errorf("signed header %q not lower case", h)
		}
		if _, ok := need[h]; ok {
			need[h] = true
		}
	}
	for h, ok := range need {
		if !ok {
			return fmt.Errorf("header %s is not signed", h)
		}
	}
	if got := r.Header.Get("X-Domain-Id"); got != f.domain {
		return fmt.Errorf("X-Domain-Id %q does not match the key's account", got)
	}

	esc := func(s string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		return b.String()
	}
	segs := strings.Split(r.URL.Path, "/")
	for i := range segs {
		segs[i] = esc(segs[i])
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	var qs []string
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			qs = append(qs, esc(k)+"="+esc(v))
		}
	}
	sort.Strings(qs)
	var hdrs strings.Builder
	for _, h := range signedList {
		vals := r.Header.Values(h)
		if h == "host" {
			vals = []string{r.Host}
		}
		for _, v := range vals {
			hdrs.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
		}
	}
	bodyHash := r.Header.Get("X-Sdk-Content-Sha256")
	if bodyHash == "" {
		sum := sha256.Sum256(body)
		bodyHash = hex.EncodeToString(sum[:])
	}
	canonical := r.Method + "\n" + uri + "\n" + strings.Join(qs, "&") + "\n" + hdrs.String() + "\n" + strings.Join(signedList, ";") + "\n" + bodyHash
	ch := sha256.Sum256([]byte(canonical))
	mac := hmac.New(sha256.New, []byte(f.sk))
	mac.Write([]byte("SDK-HMAC-SHA256\n" + r.Header.Get("X-Sdk-Date") + "\n" + hex.EncodeToString(ch[:])))
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(sig)) {
		return fmt.Errorf("verify aksk signature fail")
	}
	return nil
}

var aadResources = []providers.Resource{
	providers.AADBasicBandwidth, providers.AADElasticBandwidth, providers.AADServiceBandwidth,
	providers.AADElasticServiceBandwidth, providers.AADBasicQPS, providers.AADPorts, providers.AADDomains,
}

func (f *fakeAAD) show(w http.ResponseWriter, id string) {
	f.mu.Lock()
	f.gets++
	ex := f.extra[id]
	now := f.now()
	f.mu.Unlock()
	var in *simcloud.Instance
	for _, x := range f.cloud.Instances() {
		if x.ID == id {
			in = &x
			break
		}
	}
	if in == nil || ex == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error_code": "AAD.10010035", "error_description": "instance not exist"})
		return
	}
	spec := map[string]any{
		"product_uuid": "fake-uuid", "isp_spec": "BGP", "data_center": "fake-dc", "spec_type": 1,
		"elastic_service_bandwidth_type": ex.esbType,
	}
	for _, r := range aadResources {
		if r == providers.AADBasicQPS && !ex.reportQPS {
			continue
		}
		spec[resourceFields[r].field] = int64(in.Values[r])
	}
	freeze := ex.freezeType
	if freeze == nil {
		freeze = []int{}
	}
	detail := map[string]any{
		"instance_name": "fake-" + id, "enterprise_project_id": "0", "version": "v2",
		"expire_time": ex.expire.Unix(), "create_time": now.Add(-24 * time.Hour).Unix(), "current_time": now.Unix(),
		"product_spec_data": spec,
		"instance_config":   map[string]any{"tags": []string{}, "freeze_type": freeze},
	}
	if ex.updateEnable != nil {
		detail["elastic_service_bw_update_enable"] = *ex.updateEnable
	}
	writeJSON(w, http.StatusOK, detail)
}

// upgradeFields are the upgrade_data fields; true marks the string ones.
var upgradeFields = map[string]bool{
	"basic_bandwidth": true, "elastic_bandwidth": true, "service_bandwidth": false, "port_num": false,
	"bind_domain_num": false, "elastic_service_bandwidth_type": false, "elastic_service_bandwidth": false, "basic_qps": false,
}

var digits = regexp.MustCompile(`^[0-9]+$`)

func (f *fakeAAD) invalid(w http.ResponseWriter, format string, args ...any) {
	f.t.Errorf("fake AAD: bad PUT /v2/aad/instance body: "+format, args...)
	writeJSON(w, http.StatusBadRequest, map[string]string{"error_code": "Anti-DDoS.10000001", "error_description": "Enter a valid request message"})
}

func (f *fakeAAD) upgrade(w http.ResponseWriter, body []byte) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		f.invalid(w, "%v", err)
		return
	}
	for k := range top {
		if k != "instance_id" && k != "upgrade_data" {
			f.invalid(w, "unknown field %q", k)
			return
		}
	}
	var id string
	if err := json.Unmarshal(top["instance_id"], &id); err != nil || id == "" {
		f.invalid(w, "instance_id %s: want a non-empty string", top["instance_id"])
		return
	}
	dec := json.NewDecoder(bytes.NewReader(top["upgrade_data"]))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil || len(data) == 0 {
		f.invalid(w, "upgrade_data %s: want a non-empty object", top["upgrade_data"])
		return
	}
	values := map[providers.Resource]float64{}
	esbType := -1
	for k, v := range data {
		isString, ok := upgradeFields[k]
		if !ok {
			f.invalid(w, "unknown upgrade_data field %q", k)
			return
		}
		var n json.Number
		if isString {
			s, ok := v.(string)
			if !ok || !digits.MatchString(s) {
				f.invalid(w, "%s = %#v: want a string of digits (Gbit/s)", k, v)
				return
			}
			n = json.Number(s)
		} else {
			if n, ok = v.(json.Number); !ok || !digits.MatchString(string(n)) {
				f.invalid(w, "%s = %#v: want a non-negative integer", k, v)
				return
			}
		}
		x, _ := n.Int64()
		if k == "elastic_service_bandwidth_type" {
			if x != 0 && x != 3 {
				f.invalid(w, "elastic_service_bandwidth_type %d: want 0 or 3", x)
				return
			}
			esbType = int(x)
			continue
		}
		for r, rf := range resourceFields {
			if rf.field == k {
				values[r] = float64(x)
			}
		}
	}
	f.mu.Lock()
	f.puts = append(f.puts, data)
	inj := f.inject
	f.inject = nil
	ex := f.extra[id]
	unpaid := f.unpaid
	f.mu.Unlock()
	if inj != nil {
		if inj.retryAfter != "" {
			w.Header().Set("Retry-After", inj.retryAfter)
		}
		writeJSON(w, inj.status, inj.body)
		return
	}
	if ex == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error_code": "AAD.10010035", "error_description": "instance not exist"})
		return
	}
	orderID := fmt.Sprintf("CS26%08d", f.changes()+1)
	if unpaid {
		writeJSON(w, http.StatusOK, map[string]string{"order_id": orderID})
		return
	}
	for r, v := range values {
		_, aerr := f.cloud.Apply(providers.Change{Target: providers.Target{Account: fakeAccount, Resource: r, Instance: id}, Value: v})
		if aerr != nil {
			status, code := translateSim(aerr.Code)
			writeJSON(w, status, map[string]string{"error_code": code, "error_description": aerr.Message})
			return
		}
	}
	if esbType >= 0 {
		f.mu.Lock()
		ex.esbType = esbType
		f.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, map[string]string{"order_id": orderID})
}

// translateSim maps a simulated cloud refusal to the AAD answer of its
// class.
func translateSim(code string) (int, string) {
	switch code {
	case simcloud.CodeNotFound:
		return http.StatusBadRequest, "AAD.10010035"
	case simcloud.CodeStatus:
		return http.StatusBadRequest, "CBC.3002"
	case simcloud.CodeLastOrder:
		return http.StatusBadRequest, "CBC.3144"
	case simcloud.CodeThrottling:
		return http.StatusTooManyRequests, "APIGW.0308"
	case simcloud.CodeInternalError:
		return http.StatusInternalServerError, "Anti-DDoS.11000000"
	}
	return http.StatusBadRequest, "Anti-DDoS.10000001"
}

// documentedAnswers are the injected answers per class: a documented code
// with its documented status and body shape. Cooldown and quota have none.
var documentedAnswers = map[providers.Class]fakeAnswer{
	providers.ClassRetryLater: {status: 429, body: map[string]string{"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 minute", "request_id": "gw-req-1"}, retryAfter: "7"},
	providers.ClassInProgress: {status: 400, body: map[string]string{"error_code": "CBC.3144", "error_description": "Operation not supported. There is an order in progress for this resource."}},
	providers.ClassStatus:     {status: 400, body: map[string]string{"error_code": "CBC.3002", "error_description": "The resource has been locked."}},
	providers.ClassInvalid:    {status: 400, body: map[string]string{"error_code": "Anti-DDoS.10000001", "error_description": "Enter a valid request message"}},
	providers.ClassNotFound:   {status: 400, body: map[string]string{"error_code": "AAD.10010035", "error_description": "instance not exist"}},
	providers.ClassAccount:    {status: 401, body: map[string]string{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: verify aksk signature fail", "request_id": "gw-req-2"}},
}

// serve starts the fake on loopback and returns its URL.
func (f *fakeAAD) serve(t testing.TB) string {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newClient starts the fake and returns a client of it.
func (f *fakeAAD) newClient(t testing.TB, auth Auth, opts ...Option) *Client {
	t.Helper()
	c, err := New(Config{Account: "aad-test", Endpoint: f.serve(t), Timeout: 5 * time.Second, Auth: auth}, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeAAD) akskClient(t testing.TB, opts ...Option) *Client {
	return f.newClient(t, AKSK(f.ak, f.sk, f.domain), opts...)
}
