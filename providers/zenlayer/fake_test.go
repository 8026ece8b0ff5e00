package zenlayer

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
)

// fakeZenlayer is a Zenlayer Cloud API 2.0 service (bmc or vm) on
// httptest. It checks every request the way the real API would — method,
// path, headers, ZC2-HMAC-SHA256 signature, action, body fields and their
// JSON types — and answers with the documented success and error
// envelopes. The rules (status, a change in progress, next-cycle prepaid
// downgrades, ranges) are kept by a simcloud.Cloud whose codes it
// translates into Zenlayer's. It never passes a token to the cloud: the
// real API has none, so idempotency is the adapter's job.
//
// A request that breaks the API's contract is a violation: the fake
// answers 400 and the test fails at cleanup.
type fakeZenlayer struct {
	t        testing.TB
	svc      service
	keyID    string
	password string
	version  string
	cloud    *simcloud.Cloud
	srv      *httptest.Server

	mu         sync.Mutex
	clock      time.Time
	tick       time.Duration         // added to the clock before each request
	status     map[string]string     // instanceStatus by ID; default RUNNING
	typeCap    map[string]float64    // known VM instance types → capacity
	inject     *fakeAnswer           // answers the next write instead of the cloud
	beforeNext func(f *fakeZenlayer) // runs once before the next write
	hang       chan struct{}         // non-nil: every request blocks
	violations []string              // contract breaches seen
	requests   []fakeRequest         // every request, in order
	seq        int                   // request IDs
}

type fakeAnswer struct {
	status int
	code   string
	msg    string
	raw    string // a non-JSON body (a gateway's page), when set
}

type fakeRequest struct {
	Action  string
	Body    string
	Headers http.Header
}

const (
	fakeKeyID    = "0D9UtpyKYcHxms5v"
	fakePassword = "Gu5t9xGARNpq86cd98joQYCN3"
)

// fakeStart is when every fake's clock starts; prepaid cycles start here.
var fakeStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func newFake(t testing.TB, svc service, rules simcloud.Rules) *fakeZenlayer {
	t.Helper()
	f := &fakeZenlayer{
		t: t, svc: svc, keyID: fakeKeyID, password: fakePassword, version: svc.versions[0],
		clock:  fakeStart,
		status: map[string]string{},
		typeCap: map[string]float64{
			"c.1c2g": 1, "c.2c4g": 2, "c.4c8g": 4, "g.4c16g": 4, "s.2c4g": 2, "h.8c32g": 8,
		},
	}
	cloud, err := simcloud.New(rules, simcloud.WithClock(f.now), simcloud.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	f.cloud = cloud
	f.srv = httptest.NewServer(f)
	t.Cleanup(func() {
		f.releaseHang()
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, v := range f.violations {
			t.Errorf("fake Zenlayer: contract violation: %s", v)
		}
	})
	return f
}

// fakeRules are Zenlayer's rules in simcloud terms: no lock, no downgrade
// quota, prepaid downgrades wait for the next cycle.
func fakeRules(asyncDelay time.Duration) simcloud.Rules {
	return simcloud.Rules{
		CycleLength:         30 * 24 * time.Hour,
		NextCycleDowngrades: true,
		AsyncDelay:          asyncDelay,
		Ranges: map[providers.Resource]simcloud.Range{
			providers.BandwidthOut: {Min: 1, Max: 10000},
			providers.InstanceType: {Min: 0, Max: 1000},
		},
	}
}

func (f *fakeZenlayer) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock
}

func (f *fakeZenlayer) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = f.clock.Add(d)
}

// addBMC adds a bare-metal instance with bandwidth mbps (0 = unlimited).
func (f *fakeZenlayer) addBMC(id string, mbps float64, prepaid bool) {
	f.t.Helper()
	err := f.cloud.Put(simcloud.Instance{ID: id, Prepaid: prepaid, CycleStart: fakeStart,
		Values: map[providers.Resource]float64{providers.BandwidthOut: mbps}})
	if err != nil {
		f.t.Fatal(err)
	}
}

// addVM adds a VM with a type and bandwidth.
func (f *fakeZenlayer) addVM(id, typ string, mbps float64, prepaid bool) {
	f.t.Helper()
	err := f.cloud.Put(simcloud.Instance{ID: id, Prepaid: prepaid, CycleStart: fakeStart,
		Values: map[providers.Resource]float64{providers.BandwidthOut: mbps, providers.InstanceType: f.typeCap[typ]},
		Names:  map[providers.Resource]string{providers.InstanceType: typ}})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeZenlayer) setStatus(id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[id] = status
}

func (f *fakeZenlayer) injectNext(a fakeAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = &a
}

// changes is how many writes the cloud accepted.
func (f *fakeZenlayer) changes() int { return len(f.cloud.Ledger()) }

// actions lists the actions called, in order.
func (f *fakeZenlayer) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.requests))
	for i, r := range f.requests {
		out[i] = r.Action
	}
	return out
}

func (f *fakeZenlayer) lastRequest(action string) (fakeRequest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].Action == action {
			return f.requests[i], true
		}
	}
	return fakeRequest{}, false
}

func (f *fakeZenlayer) Hang() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = make(chan struct{})
	return f.releaseHang
}

func (f *fakeZenlayer) releaseHang() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hang != nil {
		close(f.hang)
		f.hang = nil
	}
}

func (f *fakeZenlayer) violate(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

func (f *fakeZenlayer) requestID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return fmt.Sprintf("T%08X-7E8B-4047-B0C0-780F2CD549D3", f.seq)
}

func (f *fakeZenlayer) answer(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"requestId": f.requestID(), "code": code, "message": msg})
}

func (f *fakeZenlayer) ok(w http.ResponseWriter, resp map[string]any) {
	id := f.requestID()
	resp["requestId"] = id
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"requestId": id, "response": resp})
}

// ServeHTTP checks a request like the real API and answers it.
func (f *fakeZenlayer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	f.mu.Lock()
	f.clock = f.clock.Add(f.tick)
	f.mu.Unlock()

	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		f.violate("read body: %v", err)
		return
	}
	action := r.Header.Get("X-ZC-Action")
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{Action: action, Body: string(body), Headers: r.Header.Clone()})
	f.mu.Unlock()

	if problem := f.checkTransport(r); problem != "" {
		f.violate("%s %s: %s", action, r.URL.Path, problem)
		f.answer(w, http.StatusBadRequest, "INVALID_PARAMETER", problem)
		return
	}
	if !f.signatureValid(r, body) {
		f.answer(w, http.StatusUnauthorized, CodeSignatureFailure, "The provided credentials could not be validated.")
		return
	}
	fields, problem := f.checkBody(action, body)
	if problem != "" {
		f.violate("%s: %s (body %s)", action, problem, body)
		f.answer(w, http.StatusBadRequest, "INVALID_PARAMETER", problem)
		return
	}
	if strings.HasPrefix(action, "Modify") {
		f.mu.Lock()
		inj, hook := f.inject, f.beforeNext
		f.inject, f.beforeNext = nil, nil
		f.mu.Unlock()
		if hook != nil {
			hook(f)
		}
		if inj != nil {
			if inj.raw != "" {
				w.WriteHeader(inj.status)
				_, _ = io.WriteString(w, inj.raw)
				return
			}
			f.answer(w, inj.status, inj.code, inj.msg)
			return
		}
	}
	switch action {
	case actionDescribeInstances:
		f.describeInstances(w, fields)
	case actionDescribeInternetStatus:
		f.internetStatus(w, fields)
	case actionDescribeTypeStatus:
		f.typeStatus(w, fields)
	case actionModifyBandwidth:
		f.modifyBandwidth(w, fields)
	case actionModifyType:
		f.modifyType(w, fields)
	}
}

// checkTransport checks what every call must carry.
func (f *fakeZenlayer) checkTransport(r *http.Request) string {
	switch {
	case r.Method != http.MethodPost:
		return "method " + r.Method + ", want POST"
	case r.URL.Path != "/api/v2/"+f.svc.path:
		return "path " + r.URL.Path + ", want /api/v2/" + f.svc.path
	case r.URL.RawQuery != "":
		return "unexpected query " + r.URL.RawQuery
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		return "Content-Type " + r.Header.Get("Content-Type")
	case r.Header.Get("X-ZC-Version") != f.version:
		return "X-ZC-Version " + r.Header.Get("X-ZC-Version") + ", want " + f.version
	case r.Header.Get("X-ZC-Signature-Method") != Algorithm:
		return "X-ZC-Signature-Method " + r.Header.Get("X-ZC-Signature-Method")
	case r.Header.Get("X-ZC-Service") != "" && r.Header.Get("X-ZC-Service") != f.svc.path:
		return "X-ZC-Service " + r.Header.Get("X-ZC-Service")
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-ZC-Timestamp"), 10, 64)
	if err != nil {
		return "X-ZC-Timestamp not unix seconds: " + r.Header.Get("X-ZC-Timestamp")
	}
	if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "X-ZC-Timestamp off by " + d.String()
	}
	if !f.knownAction(r.Header.Get("X-ZC-Action")) {
		return "unknown action " + strconv.Quote(r.Header.Get("X-ZC-Action"))
	}
	return ""
}

func (f *fakeZenlayer) knownAction(a string) bool {
	switch a {
	case actionDescribeInstances, actionDescribeInternetStatus, actionModifyBandwidth:
		return true
	case actionDescribeTypeStatus, actionModifyType:
		return f.svc.path == "vm"
	}
	return false
}

// signatureValid recomputes the signature from what arrived: the
// Content-Type and Host as received, the body and the timestamp header.
func (f *fakeZenlayer) signatureValid(r *http.Request, body []byte) bool {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, Algorithm+" ")
	if !ok {
		return false
	}
	parts := strings.Split(rest, ", ")
	if len(parts) != 3 {
		return false
	}
	cred, ok1 := strings.CutPrefix(parts[0], "Credential=")
	signed, ok2 := strings.CutPrefix(parts[1], "SignedHeaders=")
	sig, ok3 := strings.CutPrefix(parts[2], "Signature=")
	if !ok1 || !ok2 || !ok3 || cred != f.keyID || signed != "content-type;host" {
		return false
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-ZC-Timestamp"), 10, 64)
	if err != nil {
		return false
	}
	want := signature(f.password, stringToSign(ts, canonicalRequest(r.Header.Get("Content-Type"), r.Host, body)))
	return hmac.Equal([]byte(sig), []byte(want))
}

// checkBody decodes the body and checks its fields: exactly the documented
// ones for the action, each of its documented JSON type.
func (f *fakeZenlayer) checkBody(action string, body []byte) (map[string]any, string) {
	var fields map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, "body is not a JSON object: " + err.Error()
	}
	type spec struct {
		kind     string // "string", "integer", "strings"
		required bool
	}
	var want map[string]spec
	switch action {
	case actionDescribeInstances:
		want = map[string]spec{"instanceIds": {"strings", false}, "pageSize": {"integer", false}, "pageNum": {"integer", false}}
	case actionDescribeInternetStatus, actionDescribeTypeStatus:
		want = map[string]spec{"instanceId": {"string", true}}
	case actionModifyBandwidth:
		want = map[string]spec{"instanceId": {"string", true}, f.svc.bandwidthField: {"integer", true}}
	case actionModifyType:
		want = map[string]spec{"instanceId": {"string", true}, "instanceTypeId": {"string", true}}
	}
	for k := range fields {
		if _, ok := want[k]; !ok {
			return nil, "unknown field " + k
		}
	}
	for k, s := range want {
		v, ok := fields[k]
		if !ok {
			if s.required {
				return nil, "missing field " + k
			}
			continue
		}
		switch s.kind {
		case "string":
			if str, ok := v.(string); !ok || str == "" {
				return nil, k + " must be a non-empty string"
			}
		case "integer":
			n, ok := v.(json.Number)
			if !ok {
				return nil, k + " must be a number"
			}
			if _, err := n.Int64(); err != nil {
				return nil, k + " must be an integer, got " + n.String()
			}
		case "strings":
			list, ok := v.([]any)
			if !ok || len(list) == 0 || len(list) > 100 {
				return nil, k + " must be a list of 1 to 100 strings"
			}
			for _, e := range list {
				if _, ok := e.(string); !ok {
					return nil, k + " must hold strings"
				}
			}
		}
	}
	return fields, ""
}

func (f *fakeZenlayer) target(id string, r providers.Resource) providers.Target {
	return providers.Target{Account: "fake", Resource: r, Instance: id}
}

func (f *fakeZenlayer) statusOf(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.status[id]; ok {
		return s
	}
	return statusRunning
}

func (f *fakeZenlayer) describeInstances(w http.ResponseWriter, fields map[string]any) {
	ids, _ := fields["instanceIds"].([]any)
	data := []map[string]any{}
	for _, raw := range ids {
		id := raw.(string)
		bw, aerr := f.cloud.Current(f.target(id, providers.BandwidthOut))
		if aerr != nil {
			continue // the list API leaves unknown IDs out
		}
		info := map[string]any{
			"instanceId":         id,
			"instanceName":       "name-" + id,
			"zoneId":             "HKG-A",
			"instanceStatus":     f.statusOf(id),
			"instanceChargeType": "POSTPAID",
			"internetChargeType": "ByBandwidth",
			"createTime":         "2026-01-01T00:00:00Z",
		}
		if bw.Prepaid {
			info["instanceChargeType"] = "PREPAID"
			info["expiredTime"] = bw.CycleEnd.UTC().Format("2006-01-02T15:04:05Z")
			info["period"] = 1
		}
		switch f.svc.path {
		case "bmc":
			info["bandwidthOutMbps"] = int(bw.Value)
			info["instanceTypeId"] = "M6C"
			info["instanceType"] = map[string]any{"instanceTypeId": "M6C", "cpuCoreCount": 8}
		case "vm":
			typ, _ := f.cloud.Current(f.target(id, providers.InstanceType))
			info["internetMaxBandwidthOut"] = int(bw.Value)
			info["instanceType"] = typ.Name
			info["cpuCount"] = 2
		}
		data = append(data, info)
	}
	f.ok(w, map[string]any{"totalCount": len(data), "dataSet": data})
}

func modifiedStatus(p *providers.Pending) string {
	switch {
	case p == nil:
		return "Enable"
	case p.State == providers.NextCycle:
		return "WaitToEnable"
	}
	return "Processing"
}

func (f *fakeZenlayer) internetStatus(w http.ResponseWriter, fields map[string]any) {
	id := fields["instanceId"].(string)
	spec, aerr := f.cloud.Current(f.target(id, providers.BandwidthOut))
	if aerr != nil {
		f.answer(w, http.StatusNotFound, CodeInstanceNotFound, "Instance does not exist.")
		return
	}
	modified := spec.Value
	if spec.Pending != nil {
		modified = spec.Pending.Value
	}
	f.ok(w, map[string]any{
		"instanceId": id, "instanceName": "name-" + id,
		"internetMaxBandwidthOut": int(spec.Value), "modifiedInternetMaxBandwidthOut": int(modified),
		"modifiedBandwidthStatus": modifiedStatus(spec.Pending),
	})
}

func (f *fakeZenlayer) typeStatus(w http.ResponseWriter, fields map[string]any) {
	id := fields["instanceId"].(string)
	spec, aerr := f.cloud.Current(f.target(id, providers.InstanceType))
	if aerr != nil {
		f.answer(w, http.StatusNotFound, CodeInstanceNotFound, "Instance does not exist.")
		return
	}
	modified := spec.Name
	if spec.Pending != nil {
		modified = spec.Pending.Name
	}
	f.ok(w, map[string]any{
		"instanceId": id, "instanceName": "name-" + id,
		"instanceType": spec.Name, "modifiedInstanceType": modified,
		"modifiedInstanceTypeStatus": modifiedStatus(spec.Pending),
	})
}

func (f *fakeZenlayer) modifyBandwidth(w http.ResponseWriter, fields map[string]any) {
	id := fields["instanceId"].(string)
	mbps, _ := fields[f.svc.bandwidthField].(json.Number).Int64()
	if _, aerr := f.cloud.Current(f.target(id, providers.BandwidthOut)); aerr != nil {
		f.answer(w, http.StatusNotFound, CodeInstanceNotFound, "Instance does not exist.")
		return
	}
	if f.statusOf(id) != statusRunning {
		f.answer(w, http.StatusForbidden, CodeNotRunning, "Only operations on instances in RUNNING status are supported.")
		return
	}
	e, aerr := f.cloud.Apply(providers.Change{Target: f.target(id, providers.BandwidthOut), Value: float64(mbps)})
	if aerr != nil {
		f.translate(w, aerr, providers.BandwidthOut)
		return
	}
	f.ok(w, map[string]any{"orderNumber": e.OrderID})
}

func series(typ string) string {
	s, _, _ := strings.Cut(typ, ".")
	switch s {
	case "c", "g", "m": // the docs: changes between c, g and m are allowed
		return "cgm"
	}
	return s
}

func (f *fakeZenlayer) modifyType(w http.ResponseWriter, fields map[string]any) {
	id := fields["instanceId"].(string)
	want := fields["instanceTypeId"].(string)
	cur, aerr := f.cloud.Current(f.target(id, providers.InstanceType))
	if aerr != nil {
		f.answer(w, http.StatusNotFound, CodeInstanceNotFound, "Instance does not exist.")
		return
	}
	if s := f.statusOf(id); s != statusRunning && s != statusStopped {
		f.answer(w, http.StatusBadRequest, CodeUnsupportedStatus, "Only operations on instances in RUNNING or STOPPED status are supported.")
		return
	}
	capacity, known := f.typeCap[want]
	switch {
	case !known:
		f.answer(w, http.StatusNotFound, CodeProductNotFound, "Model does not exist.")
		return
	case cur.Pending != nil && cur.Pending.State == providers.NextCycle:
		f.answer(w, http.StatusForbidden, CodeExistPlan, "A scheduling change exists.")
		return
	case cur.Pending == nil && cur.Name == want:
		f.answer(w, http.StatusForbidden, CodeTypeNotChanged, "Instance model does not changed.")
		return
	case series(cur.Name) != series(want):
		f.answer(w, http.StatusBadRequest, CodeTypeUnsupported, "Unsupported model for the current instance.")
		return
	}
	e, aerr := f.cloud.Apply(providers.Change{Target: f.target(id, providers.InstanceType), Value: capacity, Name: want})
	if aerr != nil {
		f.translate(w, aerr, providers.InstanceType)
		return
	}
	f.ok(w, map[string]any{"orderNumber": e.OrderID})
}

// translate turns a simulated cloud's refusal into Zenlayer's.
func (f *fakeZenlayer) translate(w http.ResponseWriter, aerr *simcloud.APIError, r providers.Resource) {
	typ := r == providers.InstanceType
	switch aerr.Code {
	case simcloud.CodeNotFound:
		f.answer(w, http.StatusNotFound, CodeInstanceNotFound, "Instance does not exist.")
	case simcloud.CodeLastOrder:
		if typ {
			f.answer(w, http.StatusForbidden, CodePlanProcessing, "A processing change exists.")
		} else {
			f.answer(w, http.StatusForbidden, CodeBandwidthProcessing, "Bandwidth is being modified.")
		}
	case simcloud.CodeInvalidValue:
		if typ {
			f.answer(w, http.StatusBadRequest, CodeTypeUnsupported, "Unsupported model for the current instance.")
		} else {
			f.answer(w, http.StatusBadRequest, CodeBandwidthExceed, "Bandwidth exceeds upper limit.")
		}
	default:
		f.violate("simulated cloud answered %s, which Zenlayer has no code for", aerr.Code)
		f.answer(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", aerr.Message)
	}
}

// account returns a provider account for the fake, its credentials in
// files.
func (f *fakeZenlayer) account(t testing.TB, password string) providers.Account {
	t.Helper()
	dir := t.TempDir()
	write := func(name, v string) providers.SecretRef {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return providers.SecretRef{File: p}
	}
	return providers.Account{
		Name: "fake", Type: f.svc.typeName, Endpoint: f.srv.URL, Timeout: 5 * time.Second,
		Credentials: map[string]providers.SecretRef{
			CredAccessKeyID:       write("id", f.keyID),
			CredAccessKeyPassword: write("password", password),
		},
	}
}
