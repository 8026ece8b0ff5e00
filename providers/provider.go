// Package providers defines what specscale needs of a cloud: read a target's
// live specification and change it, idempotently, with errors sorted into the
// classes the executor acts on. One sub-package per provider API implements
// Provider; the registry builds them from the daemon config.
//
// Nothing here knows about policies, NATS or the executor: a provider answers
// one call at a time and keeps no intent state of its own.
package providers

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Resource names one resizable property of an instance.
type Resource string

// The resources specscale knows. A provider lists the ones it can change in
// its Capabilities.
const (
	BandwidthOut Resource = "bandwidth_out" // public egress, Mbit/s
	BandwidthIn  Resource = "bandwidth_in"  // public ingress, Mbit/s
	InstanceType Resource = "instance_type" // the instance type; values are names

	AADBasicBandwidth          Resource = "aad_basic_bandwidth"           // Gbit/s
	AADElasticBandwidth        Resource = "aad_elastic_bandwidth"         // Gbit/s
	AADServiceBandwidth        Resource = "aad_service_bandwidth"         // Mbit/s
	AADElasticServiceBandwidth Resource = "aad_elastic_service_bandwidth" // Mbit/s
	AADBasicQPS                Resource = "aad_basic_qps"                 // requests/s
	AADPorts                   Resource = "aad_port_num"                  // count
	AADDomains                 Resource = "aad_bind_domain_num"           // count
)

// KnownResources lists every resource name a policy may use.
var KnownResources = []Resource{
	BandwidthOut, BandwidthIn, InstanceType,
	AADBasicBandwidth, AADElasticBandwidth, AADServiceBandwidth,
	AADElasticServiceBandwidth, AADBasicQPS, AADPorts, AADDomains,
}

// IsKnownResource reports whether r is one of KnownResources.
func IsKnownResource(r Resource) bool {
	for _, k := range KnownResources {
		if k == r {
			return true
		}
	}
	return false
}

var (
	accountNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	instanceIDRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
)

// ValidAccountName reports whether name may name a provider account: lower
// case letters, digits and dashes, so that it can sit in a NATS subject and a
// KV key unescaped.
func ValidAccountName(name string) bool { return accountNameRE.MatchString(name) }

// ValidInstanceID reports whether id can be part of a target key. Every ID the
// seed providers hand out (i-bp67acfmxazb4ph, UUIDs, numeric IDs) qualifies.
func ValidInstanceID(id string) bool { return instanceIDRE.MatchString(id) }

// Target is one resizable thing: a resource of one instance in one provider
// account.
type Target struct {
	Account  string   `json:"account"`
	Resource Resource `json:"resource"`
	Instance string   `json:"instance"`
}

// Key is the target's stable identity: "account/resource/instance". It is a
// single NATS subject token and a valid JetStream KV key, because account
// names, resources and instance IDs never contain '.', '/', '*', '>' or spaces.
func (t Target) Key() string {
	return t.Account + "/" + string(t.Resource) + "/" + t.Instance
}

func (t Target) String() string { return t.Key() }

// ParseKey is the inverse of Target.Key.
func ParseKey(key string) (Target, error) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Target{}, fmt.Errorf("target key %q: want account/resource/instance", key)
	}
	return Target{Account: parts[0], Resource: Resource(parts[1]), Instance: parts[2]}, nil
}

// Window is a time-boxed change that the provider reverts by itself.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Change asks a provider to set a target to an absolute value.
type Change struct {
	Target Target
	// Value is the desired numeric value (Mbit/s, Gbit/s, QPS, count). For
	// resources whose values are names (instance types) it is the rung's
	// capacity as the policy sees it and Name carries the provider's name.
	Value float64
	Name  string
	// Token is the idempotency key of the intent. Adapters pass it as the
	// provider's client token where the API has one; the same token with the
	// same parameters must never change anything twice.
	Token string
	// Temporary, when set, asks for a native temporary change that the
	// provider reverts at Temporary.End. Only providers whose capabilities
	// declare a TemporaryRule accept it.
	Temporary *Window
}

// Outcome says when an accepted change takes effect.
type Outcome string

const (
	// Applied: the change is in effect now.
	Applied Outcome = "applied"
	// Processing: the provider accepted an asynchronous change; Current
	// reports it as Pending until it is in effect.
	Processing Outcome = "processing"
	// NextCycle: the provider accepted the change for its next billing cycle
	// (a prepaid downgrade). Until EffectiveAt the present value stays.
	NextCycle Outcome = "next_cycle"
)

// Result is a provider's answer to an accepted Apply.
type Result struct {
	Outcome     Outcome
	OrderID     string
	RequestID   string
	EffectiveAt time.Time // for NextCycle, when known
}

// Pending describes a change the provider has accepted but that is not in
// effect yet.
type Pending struct {
	Value       float64   `json:"value"`
	Name        string    `json:"name,omitempty"`
	State       Outcome   `json:"state"` // Processing or NextCycle
	EffectiveAt time.Time `json:"effective_at,omitzero"`
}

// Spec is a target's live specification as Current reads it.
type Spec struct {
	Target Target
	Value  float64
	Name   string // for name-valued resources
	// Status is the provider's instance status, verbatim (Running, RUNNING,
	// normal, …). Ready says whether that status allows changing this
	// resource now.
	Status string
	Ready  bool
	// Prepaid is true for subscription (PrePaid, PREPAID) instances.
	Prepaid bool
	// Min and Max bound the values this instance accepts now, narrowing the
	// resource's static range (Alibaba: 0–200 only for subscription
	// pay-by-bandwidth instances). Zero Max means "the static range".
	Min, Max float64
	// Pending is a change accepted but not yet in effect, if any.
	Pending *Pending
	// LockedUntil is the end of a provider lock, when the API tells it.
	LockedUntil time.Time
	// CycleEnd is when the current billing cycle (or subscription) ends,
	// when the API tells it.
	CycleEnd time.Time
	// Temporary reports whether this instance accepts a native temporary
	// change of this resource (Alibaba: subscription + PayByBandwidth, no
	// EIP).
	Temporary bool
}

// DowngradeRule is how a provider limits lowering a resource.
type DowngradeRule struct {
	// UpgradeOnly: the API cannot lower this resource; a downgrade intent is
	// refused before any call.
	UpgradeOnly bool `json:"upgrade_only,omitempty"`
	// PerCycle is the most downgrades per billing cycle; 0 means no limit.
	// PrepaidOnly restricts the limit to subscription instances.
	PerCycle    int  `json:"per_cycle,omitempty"`
	PrepaidOnly bool `json:"prepaid_only,omitempty"`
	// FreezeAfterDowngrade: after a downgrade the provider may refuse every
	// further change until the cycle ends (Alibaba OperationDenied).
	FreezeAfterDowngrade bool `json:"freeze_after_downgrade,omitempty"`
	// NextCycle: a prepaid downgrade takes effect at the next billing cycle.
	NextCycle bool `json:"next_cycle,omitempty"`
}

// TemporaryRule describes a native temporary upgrade.
type TemporaryRule struct {
	MinWindow time.Duration `json:"min_window"`
	MaxWindow time.Duration `json:"max_window"`
	// EndOnHour: the end time has hour precision.
	EndOnHour bool `json:"end_on_hour"`
	// Conditions is a human summary of who qualifies, for docs and refusals.
	Conditions string `json:"conditions"`
}

// ResourceCaps describes what a provider can do with one resource.
type ResourceCaps struct {
	Unit string `json:"unit"`
	// Min and Max are the widest range the API accepts.
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// Named: values are names (instance types), not numbers.
	Named bool `json:"named,omitempty"`
	// Integer: the API takes whole numbers only.
	Integer bool `json:"integer,omitempty"`
	// ChangeLock is the provider's lock after each successful change.
	ChangeLock time.Duration `json:"change_lock"`
	Downgrade  DowngradeRule `json:"downgrade"`
	// Temporary is set when the provider reverts a time-boxed upgrade itself.
	Temporary *TemporaryRule `json:"temporary,omitempty"`
	// Async: an accepted change is not in effect when Apply returns.
	Async bool `json:"async,omitempty"`
	// RequiredStatus lists the instance statuses in which a change is
	// accepted, as the provider spells them.
	RequiredStatus []string `json:"required_status,omitempty"`
}

// Capabilities describes a provider account.
type Capabilities struct {
	Type      string                    `json:"type"`
	Resources map[Resource]ResourceCaps `json:"resources"`
}

// Resource returns the caps for r and whether the provider supports it.
func (c Capabilities) Resource(r Resource) (ResourceCaps, bool) {
	rc, ok := c.Resources[r]
	return rc, ok
}

// Provider is one provider account. Implementations are safe for concurrent
// use, put a timeout on every call they make, and return *Error for every
// answer the provider gave.
type Provider interface {
	// Capabilities is static for the life of the provider.
	Capabilities() Capabilities
	// Current reads the target's live specification.
	Current(ctx context.Context, t Target) (Spec, error)
	// Apply sets the target to c.Value. It is idempotent by c.Token.
	Apply(ctx context.Context, c Change) (Result, error)
}
