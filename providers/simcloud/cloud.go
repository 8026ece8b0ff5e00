// Package simcloud is a simulated cloud that enforces the rules of the seed
// providers — a lock after each change, a downgrade quota per billing cycle,
// a value range, a "change in progress" state, instance status, idempotency by
// token — and keeps a ledger of every change it accepted. It runs inside the
// daemon for the quickstart (Local) and as its own process behind an HTTP API
// (Server, Client) so that tests can kill the daemon without losing the
// cloud's memory.
package simcloud

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/specscale/specscale/providers"
)

// Rules are the provider rules the cloud enforces.
type Rules struct {
	// Lock is how long an instance refuses changes after a successful one.
	Lock time.Duration `json:"lock"`
	// DowngradesPerCycle is the downgrade quota per billing cycle; 0 means
	// no limit.
	DowngradesPerCycle int `json:"downgrades_per_cycle"`
	// CycleLength is the billing cycle; cycles start at each instance's
	// CycleStart.
	CycleLength time.Duration `json:"cycle_length"`
	// NextCycleDowngrades: a downgrade of a prepaid instance is accepted for
	// the next cycle (Zenlayer) instead of applying at once.
	NextCycleDowngrades bool `json:"next_cycle_downgrades"`
	// AsyncDelay, when non-zero, keeps each change "processing" that long.
	AsyncDelay time.Duration `json:"async_delay"`
	// Ranges bounds each resource's values; a missing resource is 0–100000.
	Ranges map[providers.Resource]Range `json:"ranges"`
	// TokenMemory is how long an idempotency token is remembered.
	TokenMemory time.Duration `json:"token_memory"`
}

// Range is an allowed value range.
type Range struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// DefaultRules are those of the seeds: a 5-minute lock, 3 downgrades per
// 30-day cycle, Alibaba's 0–200 Mbit/s range for bandwidth.
func DefaultRules() Rules {
	return Rules{
		Lock:               5 * time.Minute,
		DowngradesPerCycle: 3,
		CycleLength:        30 * 24 * time.Hour,
		TokenMemory:        24 * time.Hour,
		Ranges: map[providers.Resource]Range{
			providers.BandwidthOut: {0, 200},
			providers.BandwidthIn:  {1, 200},
		},
	}
}

// Faults makes the cloud misbehave, for tests of the executor.
type Faults struct {
	// FailRate is the share of write calls answered with an error drawn
	// from Codes (default: a mix of throttling, internal error and "last
	// order processing").
	FailRate float64  `json:"fail_rate"`
	Codes    []string `json:"codes,omitempty"`
	// Latency is added to every call.
	Latency time.Duration `json:"latency"`
}

// Instance is one simulated instance.
type Instance struct {
	ID      string                         `json:"id"`
	Status  string                         `json:"status"`
	Prepaid bool                           `json:"prepaid"`
	Values  map[providers.Resource]float64 `json:"values"`
	Names   map[providers.Resource]string  `json:"names,omitempty"`
	// Temporary lets the instance take native temporary upgrades.
	Temporary bool `json:"temporary"`

	LockedUntil    time.Time                                 `json:"locked_until,omitzero"`
	CycleStart     time.Time                                 `json:"cycle_start"`
	DowngradesUsed int                                       `json:"downgrades_used"`
	Pending        map[providers.Resource]*providers.Pending `json:"pending,omitempty"`
	Temps          map[providers.Resource]*temp              `json:"temps,omitempty"`
}

type temp struct {
	Value float64   `json:"value"`
	Base  float64   `json:"base"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Entry is one accepted change in the ledger.
type Entry struct {
	Seq       int                `json:"seq"`
	At        time.Time          `json:"at"`
	Instance  string             `json:"instance"`
	Resource  providers.Resource `json:"resource"`
	From      float64            `json:"from"`
	To        float64            `json:"to"`
	Name      string             `json:"name,omitempty"`
	Token     string             `json:"token"`
	Outcome   providers.Outcome  `json:"outcome"`
	Downgrade bool               `json:"downgrade"`
	Temporary *providers.Window  `json:"temporary,omitempty"`
	OrderID   string             `json:"order_id"`
}

// Stats counts the calls the cloud answered, refusals by code.
type Stats struct {
	Reads    int            `json:"reads"`
	Writes   int            `json:"writes"`
	Accepted int            `json:"accepted"`
	Refused  map[string]int `json:"refused"`
	Injected map[string]int `json:"injected"`
	// WritesByToken counts write calls per idempotency token, so tests can
	// bound the provider calls one intent cost.
	WritesByToken map[string]int `json:"writes_by_token"`
}

type tokenRecord struct {
	Params string    `json:"params"`
	Entry  Entry     `json:"entry"`
	At     time.Time `json:"at"`
}

// Cloud is the simulated cloud. It is safe for concurrent use.
type Cloud struct {
	mu        sync.Mutex
	rules     Rules
	faults    Faults
	now       func() time.Time
	rng       *rand.Rand
	stateFile string

	instances map[string]*Instance
	ledger    []Entry
	tokens    map[string]tokenRecord
	stats     Stats
	hang      chan struct{}

	// tokensWalked is when expired tokens were last dropped.
	tokensWalked time.Time
}

// Option configures a Cloud.
type Option func(*Cloud)

// WithClock makes the cloud read time from now.
func WithClock(now func() time.Time) Option { return func(c *Cloud) { c.now = now } }

// WithStateFile persists the cloud to path after every change, and loads it
// from there when it exists.
func WithStateFile(path string) Option { return func(c *Cloud) { c.stateFile = path } }

// WithSeed fixes the fault injector's random source.
func WithSeed(seed uint64) Option {
	return func(c *Cloud) { c.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// New returns a cloud with the given rules.
func New(rules Rules, opts ...Option) (*Cloud, error) {
	c := &Cloud{
		rules:     rules,
		now:       time.Now,
		rng:       rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)),
		instances: map[string]*Instance{},
		tokens:    map[string]tokenRecord{},
		stats:     Stats{Refused: map[string]int{}, Injected: map[string]int{}, WritesByToken: map[string]int{}},
	}
	for _, o := range opts {
		o(c)
	}
	if c.stateFile != "" {
		if err := c.load(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

type persisted struct {
	Rules     Rules                  `json:"rules"`
	Instances map[string]*Instance   `json:"instances"`
	Ledger    []Entry                `json:"ledger"`
	Tokens    map[string]tokenRecord `json:"tokens"`
	Stats     Stats                  `json:"stats"`
}

func (c *Cloud) load() error {
	b, err := os.ReadFile(c.stateFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load simulated cloud state: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("load simulated cloud state %s: %w", c.stateFile, err)
	}
	c.instances, c.ledger, c.tokens, c.stats = p.Instances, p.Ledger, p.Tokens, p.Stats
	if c.instances == nil {
		c.instances = map[string]*Instance{}
	}
	if c.tokens == nil {
		c.tokens = map[string]tokenRecord{}
	}
	if c.stats.Refused == nil {
		c.stats.Refused = map[string]int{}
	}
	if c.stats.Injected == nil {
		c.stats.Injected = map[string]int{}
	}
	if c.stats.WritesByToken == nil {
		c.stats.WritesByToken = map[string]int{}
	}
	return nil
}

// saveLocked writes the state file atomically. A process crash leaves the
// previous or the new file, never half of one.
func (c *Cloud) saveLocked() error {
	if c.stateFile == "" {
		return nil
	}
	b, err := json.Marshal(persisted{Rules: c.rules, Instances: c.instances, Ledger: c.ledger, Tokens: c.tokens, Stats: c.stats})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.stateFile), ".simcloud-*")
	if err != nil {
		return fmt.Errorf("save simulated cloud state: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("save simulated cloud state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save simulated cloud state: %w", err)
	}
	return os.Rename(tmp.Name(), c.stateFile)
}

// Put creates or replaces an instance. Missing fields get defaults: status
// Running, cycle starting now.
func (c *Cloud) Put(in Instance) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !providers.ValidInstanceID(in.ID) {
		return fmt.Errorf("instance id %q is not valid", in.ID)
	}
	if in.Status == "" {
		in.Status = "Running"
	}
	if in.CycleStart.IsZero() {
		in.CycleStart = c.now()
	}
	if in.Values == nil {
		in.Values = map[providers.Resource]float64{}
	}
	c.instances[in.ID] = &in
	return c.saveLocked()
}

// SetStatus changes an instance's status.
func (c *Cloud) SetStatus(id, status string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.instances[id]
	if !ok {
		return fmt.Errorf("no instance %q", id)
	}
	in.Status = status
	return c.saveLocked()
}

// SetFaults replaces the fault settings.
func (c *Cloud) SetFaults(f Faults) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = f
}

// Rules returns the rules in force.
func (c *Cloud) Rules() Rules {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rules
}

// Ledger returns a copy of every accepted change, oldest first.
func (c *Cloud) Ledger() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Entry(nil), c.ledger...)
}

// Stats returns a copy of the call counters.
func (c *Cloud) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Refused = cloneCounts(c.stats.Refused)
	s.Injected = cloneCounts(c.stats.Injected)
	s.WritesByToken = cloneCounts(c.stats.WritesByToken)
	return s
}

func cloneCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Instances returns a copy of every instance, sorted by ID.
func (c *Cloud) Instances() []Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Instance, 0, len(c.instances))
	for _, in := range c.instances {
		c.settleLocked(in)
		out = append(out, cloneInstance(in))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func cloneInstance(in *Instance) Instance {
	cp := *in
	cp.Values = map[providers.Resource]float64{}
	for k, v := range in.Values {
		cp.Values[k] = v
	}
	cp.Names = map[providers.Resource]string{}
	for k, v := range in.Names {
		cp.Names[k] = v
	}
	cp.Pending = map[providers.Resource]*providers.Pending{}
	for k, v := range in.Pending {
		p := *v
		cp.Pending[k] = &p
	}
	cp.Temps = map[providers.Resource]*temp{}
	for k, v := range in.Temps {
		t := *v
		cp.Temps[k] = &t
	}
	return cp
}

// Fault codes and the class each one belongs to. The names follow the seeds.
const (
	CodeThrottling       = "Throttling"
	CodeInternalError    = "InternalError"
	CodeLastOrder        = "LastOrderProcessing"
	CodeLocked           = "OperationLocked.ChangeLock"
	CodeQuota            = "InstanceDowngrade.QuotaExceed"
	CodeFrozen           = "OperationDenied"
	CodeStatus           = "IncorrectInstanceStatus"
	CodeInvalidValue     = "InvalidParameter.Value"
	CodeNotFound         = "InvalidInstanceId.NotFound"
	CodeArrearage        = "Account.Arrearage"
	CodeTokenMismatch    = "IdempotentParameterMismatch"
	CodeTemporaryDenied  = "BandwidthUpgradeDenied"
	CodeUpgradeOnlyValue = "InvalidBandwidth.ValueNotSupported"
)

var codeClass = map[string]providers.Class{
	CodeThrottling:       providers.ClassRetryLater,
	CodeInternalError:    providers.ClassRetryLater,
	CodeLastOrder:        providers.ClassInProgress,
	CodeLocked:           providers.ClassCooldown,
	CodeQuota:            providers.ClassQuota,
	CodeFrozen:           providers.ClassQuota,
	CodeStatus:           providers.ClassStatus,
	CodeInvalidValue:     providers.ClassInvalid,
	CodeNotFound:         providers.ClassNotFound,
	CodeArrearage:        providers.ClassAccount,
	CodeTokenMismatch:    providers.ClassInvalid,
	CodeTemporaryDenied:  providers.ClassInvalid,
	CodeUpgradeOnlyValue: providers.ClassInvalid,
}

var codeStatus = map[string]int{
	CodeThrottling: 400, CodeInternalError: 500, CodeLastOrder: 400, CodeLocked: 403,
	CodeQuota: 400, CodeFrozen: 400, CodeStatus: 403, CodeInvalidValue: 400,
	CodeNotFound: 404, CodeArrearage: 400, CodeTokenMismatch: 400, CodeTemporaryDenied: 400,
	CodeUpgradeOnlyValue: 400,
}

// ClassOfCode returns the class of a simulated cloud error code.
func ClassOfCode(code string) (providers.Class, bool) {
	c, ok := codeClass[code]
	return c, ok
}

// CodeFor returns a code of class c, for fault injection.
func CodeFor(class providers.Class) (string, bool) {
	for _, code := range []string{CodeThrottling, CodeLastOrder, CodeLocked, CodeQuota, CodeStatus, CodeInvalidValue, CodeNotFound, CodeArrearage} {
		if codeClass[code] == class {
			return code, true
		}
	}
	return "", false
}

// APIError is the cloud's refusal, as its HTTP API sends it.
type APIError struct {
	HTTPStatus int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	RequestID  string `json:"request_id"`
	RetryAfter int    `json:"retry_after_seconds,omitempty"`
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// ToProvider converts the API error to the classified provider error.
func (e *APIError) ToProvider(op string) *providers.Error {
	class, ok := codeClass[e.Code]
	if !ok {
		class = providers.ClassInvalid
	}
	pe := &providers.Error{Class: class, Provider: TypeName, Op: op, HTTPStatus: e.HTTPStatus,
		Code: e.Code, Message: e.Message, RequestID: e.RequestID}
	if e.RetryAfter > 0 {
		pe.RetryAfter = time.Duration(e.RetryAfter) * time.Second
	}
	return pe
}

func (c *Cloud) refuse(code, format string, args ...any) *APIError {
	c.stats.Refused[code]++
	return c.apiError(code, format, args...)
}

func (c *Cloud) apiError(code, format string, args ...any) *APIError {
	e := &APIError{HTTPStatus: codeStatus[code], Code: code, Message: fmt.Sprintf(format, args...), RequestID: c.requestID()}
	if code == CodeThrottling {
		e.RetryAfter = 1
	}
	return e
}

func (c *Cloud) requestID() string {
	return fmt.Sprintf("SIM-%016X", c.rng.Uint64())
}

// Hang makes every call block until the returned release func is called or
// the call's own deadline passes (enforced by the caller's context).
func (c *Cloud) Hang() (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	c.hang = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.hang == ch {
				c.hang = nil
			}
			c.mu.Unlock()
			close(ch)
		})
	}
}

// hangChan returns the current hang channel, or nil.
func (c *Cloud) hangChan() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hang
}

// settleLocked brings an instance up to date with the clock: rolls the
// billing cycle, applies pending next-cycle changes and finished asynchronous
// ones, and ends temporary upgrades.
func (c *Cloud) settleLocked(in *Instance) {
	now := c.now()
	if c.rules.CycleLength > 0 {
		for !now.Before(in.CycleStart.Add(c.rules.CycleLength)) {
			in.CycleStart = in.CycleStart.Add(c.rules.CycleLength)
			in.DowngradesUsed = 0
		}
	}
	for r, p := range in.Pending {
		if p.EffectiveAt.IsZero() || now.Before(p.EffectiveAt) {
			continue
		}
		in.Values[r] = p.Value
		if p.Name != "" {
			if in.Names == nil {
				in.Names = map[providers.Resource]string{}
			}
			in.Names[r] = p.Name
		}
		delete(in.Pending, r)
	}
	for r, t := range in.Temps {
		if !now.Before(t.End) {
			in.Values[r] = t.Base
			delete(in.Temps, r)
		}
	}
	c.forgetTokensLocked(now)
}

// forgetTokensLocked drops idempotency tokens older than TokenMemory. It
// walks every token, so it runs at most once per sixteenth of the memory
// rather than on every call: once per call made the cloud's cost grow with
// the calls it had answered (16 % of the CPU of an intent-throughput
// benchmark after 3,000 intents). Apply checks a token's age itself, so
// an old token is never honoured between walks.
func (c *Cloud) forgetTokensLocked(now time.Time) {
	mem := c.rules.TokenMemory
	if mem <= 0 || now.Sub(c.tokensWalked) < mem/16 {
		return
	}
	c.tokensWalked = now
	for tok, rec := range c.tokens {
		if now.Sub(rec.At) > mem {
			delete(c.tokens, tok)
		}
	}
}

// Current reads an instance's resource.
func (c *Cloud) Current(t providers.Target) (providers.Spec, *APIError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Reads++
	in, ok := c.instances[t.Instance]
	if !ok {
		return providers.Spec{}, c.apiError(CodeNotFound, "The specified InstanceId does not exist.")
	}
	c.settleLocked(in)
	r := c.rangeOf(t.Resource)
	spec := providers.Spec{
		Target:      t,
		Value:       in.Values[t.Resource],
		Name:        in.Names[t.Resource],
		Status:      in.Status,
		Ready:       in.Status == "Running",
		Prepaid:     in.Prepaid,
		Min:         r.Min,
		Max:         r.Max,
		LockedUntil: in.LockedUntil,
		Temporary:   in.Temporary,
	}
	if c.rules.CycleLength > 0 {
		spec.CycleEnd = in.CycleStart.Add(c.rules.CycleLength)
	}
	if p := in.Pending[t.Resource]; p != nil {
		cp := *p
		spec.Pending = &cp
	}
	return spec, nil
}

func (c *Cloud) rangeOf(r providers.Resource) Range {
	if rg, ok := c.rules.Ranges[r]; ok {
		return rg
	}
	return Range{0, 100000}
}

func paramsOf(ch providers.Change) string {
	b, _ := json.Marshal(struct {
		T providers.Target
		V float64
		N string
		W *providers.Window
	}{ch.Target, ch.Value, ch.Name, ch.Temporary})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Apply changes a resource under the cloud's rules.
func (c *Cloud) Apply(ch providers.Change) (Entry, *APIError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Writes++
	if ch.Token != "" {
		c.stats.WritesByToken[ch.Token]++
	}
	now := c.now()

	if ch.Token != "" {
		if rec, ok := c.tokens[ch.Token]; ok && (c.rules.TokenMemory <= 0 || now.Sub(rec.At) <= c.rules.TokenMemory) {
			if rec.Params != paramsOf(ch) {
				return Entry{}, c.refuse(CodeTokenMismatch, "The request uses the same client token as a previous, but non-identical request.")
			}
			return rec.Entry, nil
		}
	}
	if c.faults.FailRate > 0 && c.rng.Float64() < c.faults.FailRate {
		codes := c.faults.Codes
		if len(codes) == 0 {
			codes = []string{CodeThrottling, CodeInternalError, CodeLastOrder}
		}
		code := codes[c.rng.IntN(len(codes))]
		c.stats.Injected[code]++
		return Entry{}, c.apiError(code, "injected fault")
	}
	in, ok := c.instances[ch.Target.Instance]
	if !ok {
		return Entry{}, c.refuse(CodeNotFound, "The specified InstanceId does not exist.")
	}
	c.settleLocked(in)
	if in.Status != "Running" {
		return Entry{}, c.refuse(CodeStatus, "The current status of the instance does not support this operation.")
	}
	if p := in.Pending[ch.Target.Resource]; p != nil && p.State == providers.Processing {
		return Entry{}, c.refuse(CodeLastOrder, "The previous order is still processing, please try again later.")
	}
	if now.Before(in.LockedUntil) {
		return Entry{}, c.refuse(CodeLocked, "The instance was changed less than %s ago; locked until %s.", c.rules.Lock, in.LockedUntil.UTC().Format(time.RFC3339))
	}
	rg := c.rangeOf(ch.Target.Resource)
	if ch.Value < rg.Min || ch.Value > rg.Max {
		return Entry{}, c.refuse(CodeInvalidValue, "The specified value %v is beyond the permitted range %v-%v.", ch.Value, rg.Min, rg.Max)
	}
	from := in.Values[ch.Target.Resource]
	if t := in.Temps[ch.Target.Resource]; t != nil {
		from = t.Value
	}
	down := ch.Value < from
	if down && ch.Temporary != nil {
		return Entry{}, c.refuse(CodeUpgradeOnlyValue, "Instance upgrade bandwidth of temporary not allow less then existed.")
	}
	if down && c.rules.DowngradesPerCycle > 0 && in.DowngradesUsed >= c.rules.DowngradesPerCycle {
		return Entry{}, c.refuse(CodeQuota, "Quota of instance downgrade is exceed.")
	}
	if ch.Temporary != nil && !in.Temporary {
		return Entry{}, c.refuse(CodeTemporaryDenied, "This instance does not accept temporary upgrades.")
	}

	e := Entry{
		Seq: len(c.ledger) + 1, At: now, Instance: in.ID, Resource: ch.Target.Resource,
		From: from, To: ch.Value, Name: ch.Name, Token: ch.Token, Outcome: providers.Applied,
		Downgrade: down, Temporary: ch.Temporary, OrderID: fmt.Sprintf("%d", 100000000+len(c.ledger)+1),
	}
	if in.Pending == nil {
		in.Pending = map[providers.Resource]*providers.Pending{}
	}
	switch {
	case ch.Temporary != nil:
		if in.Temps == nil {
			in.Temps = map[providers.Resource]*temp{}
		}
		base := in.Values[ch.Target.Resource]
		if old := in.Temps[ch.Target.Resource]; old != nil {
			// A renewed window still returns to the value before the
			// first one.
			base = old.Base
		}
		in.Temps[ch.Target.Resource] = &temp{Value: ch.Value, Base: base, Start: ch.Temporary.Start, End: ch.Temporary.End}
		in.Values[ch.Target.Resource] = ch.Value
	case down && in.Prepaid && c.rules.NextCycleDowngrades:
		e.Outcome = providers.NextCycle
		in.Pending[ch.Target.Resource] = &providers.Pending{Value: ch.Value, Name: ch.Name, State: providers.NextCycle,
			EffectiveAt: in.CycleStart.Add(c.rules.CycleLength)}
	case c.rules.AsyncDelay > 0:
		e.Outcome = providers.Processing
		in.Pending[ch.Target.Resource] = &providers.Pending{Value: ch.Value, Name: ch.Name, State: providers.Processing,
			EffectiveAt: now.Add(c.rules.AsyncDelay)}
	default:
		in.Values[ch.Target.Resource] = ch.Value
		if ch.Name != "" {
			if in.Names == nil {
				in.Names = map[providers.Resource]string{}
			}
			in.Names[ch.Target.Resource] = ch.Name
		}
	}
	if down {
		in.DowngradesUsed++
	}
	in.LockedUntil = now.Add(c.rules.Lock)
	c.ledger = append(c.ledger, e)
	c.stats.Accepted++
	if ch.Token != "" {
		c.tokens[ch.Token] = tokenRecord{Params: paramsOf(ch), Entry: e, At: now}
	}
	if err := c.saveLocked(); err != nil {
		// The change happened; losing the file only loses memory across a
		// cloud restart, which tests notice.
		return e, c.apiError(CodeInternalError, "state file: %v", err)
	}
	return e, nil
}

// Latency returns the configured extra latency.
func (c *Cloud) latency() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults.Latency
}
