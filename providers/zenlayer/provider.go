package zenlayer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
)

// API actions the adapter calls.
const (
	actionDescribeInstances      = "DescribeInstances"
	actionDescribeInternetStatus = "DescribeInstanceInternetStatus"
	actionDescribeTypeStatus     = "DescribeInstanceTypeStatus"
	actionModifyBandwidth        = "ModifyInstanceBandwidth"
	actionModifyType             = "ModifyInstanceType"
)

// Instance statuses, as the API spells them.
const (
	statusRunning = "RUNNING"
	statusStopped = "STOPPED"
)

// Provider is one Zenlayer account on one service (bare metal or VMs). It
// is safe for concurrent use; every call it makes has the account's
// timeout. Errors are *providers.Error.
type Provider struct {
	svc    service
	opts   Options
	api    *client
	caps   providers.Capabilities
	log    *zap.Logger
	now    func() time.Time
	tokens *tokenMemory
	locks  *targetLocks
}

var _ providers.Provider = (*Provider)(nil)

func capabilities(svc service, opts Options) providers.Capabilities {
	caps := providers.Capabilities{Type: svc.typeName, Resources: map[providers.Resource]providers.ResourceCaps{}}
	for _, r := range svc.resources {
		switch r {
		case providers.BandwidthOut:
			caps.Resources[r] = providers.ResourceCaps{
				Unit: "Mbit/s", Min: 1, Max: float64(opts.MaxBandwidthMbps), Integer: true,
				// A prepaid ByBandwidth downgrade becomes an order for the
				// next billing cycle; everything else applies at once, or
				// after a short "Processing".
				Downgrade:      providers.DowngradeRule{NextCycle: true},
				Async:          true,
				RequiredStatus: []string{statusRunning},
			}
		case providers.InstanceType:
			caps.Resources[r] = providers.ResourceCaps{
				Unit: "instance type", Named: true,
				Downgrade:      providers.DowngradeRule{NextCycle: true},
				Async:          true,
				RequiredStatus: []string{statusRunning, statusStopped},
			}
		}
	}
	return caps
}

// Capabilities implements providers.Provider.
func (p *Provider) Capabilities() providers.Capabilities { return p.caps }

// Wire shapes. Numbers are read as float64 so that "100" and "100.0" both
// decode; instanceType is an object in bare-metal answers and a string in VM
// answers, so it stays raw.
type (
	describeInstancesRequest struct {
		InstanceIDs []string `json:"instanceIds"`
	}
	describeInstancesResponse struct {
		TotalCount int            `json:"totalCount"`
		DataSet    []instanceInfo `json:"dataSet"`
	}
	instanceInfo struct {
		InstanceID         string          `json:"instanceId"`
		InstanceStatus     string          `json:"instanceStatus"`
		InstanceChargeType string          `json:"instanceChargeType"`
		InternetChargeType string          `json:"internetChargeType"`
		ExpiredTime        *string         `json:"expiredTime"`
		BandwidthOutMbps   *float64        `json:"bandwidthOutMbps"`        // bmc
		InstanceTypeID     string          `json:"instanceTypeId"`          // bmc
		InternetMaxBWOut   *float64        `json:"internetMaxBandwidthOut"` // vm
		InstanceType       json.RawMessage `json:"instanceType"`            // vm: the type's name
	}
	instanceRequest struct {
		InstanceID string `json:"instanceId"`
	}
	internetStatus struct {
		InternetMaxBandwidthOut         *float64 `json:"internetMaxBandwidthOut"`
		ModifiedInternetMaxBandwidthOut *float64 `json:"modifiedInternetMaxBandwidthOut"`
		ModifiedBandwidthStatus         string   `json:"modifiedBandwidthStatus"`
	}
	typeStatus struct {
		InstanceType               string `json:"instanceType"`
		ModifiedInstanceType       string `json:"modifiedInstanceType"`
		ModifiedInstanceTypeStatus string `json:"modifiedInstanceTypeStatus"`
	}
	modifyTypeRequest struct {
		InstanceID     string `json:"instanceId"`
		InstanceTypeID string `json:"instanceTypeId"`
	}
	orderResponse struct {
		OrderNumber flexString `json:"orderNumber"`
	}
)

// flexString reads a JSON string or number: the docs show orderNumber as a
// string, and other Zenlayer samples show order numbers as numbers.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// pendingState reads modifiedBandwidthStatus / modifiedInstanceTypeStatus.
// The docs say Processing; the Java SDK's comments say Process. An unknown
// non-empty state is taken as "processing": something is under way.
func pendingState(s string) (providers.Outcome, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "enable", "enabled":
		return "", false
	case "waittoenable":
		return providers.NextCycle, true
	default:
		return providers.Processing, true
	}
}

func (p *Provider) refuse(op, format string, args ...any) *providers.Error {
	return &providers.Error{Class: providers.ClassInvalid, Provider: p.svc.typeName, Op: op, Message: fmt.Sprintf(format, args...)}
}

func (p *Provider) supports(r providers.Resource, op string) error {
	if _, ok := p.caps.Resources[r]; !ok {
		return p.refuse(op, "%s cannot change %s", p.svc.typeName, r)
	}
	return nil
}

// describe reads one instance through DescribeInstances.
func (p *Provider) describe(ctx context.Context, id string) (instanceInfo, error) {
	var out describeInstancesResponse
	rid, err := p.api.call(ctx, actionDescribeInstances, describeInstancesRequest{InstanceIDs: []string{id}}, &out)
	if err != nil {
		return instanceInfo{}, err
	}
	for _, in := range out.DataSet {
		if in.InstanceID == id {
			return in, nil
		}
	}
	// The list API answers an unknown ID with an empty list, not a code.
	return instanceInfo{}, &providers.Error{Class: providers.ClassNotFound, Provider: p.svc.typeName,
		Op: actionDescribeInstances, RequestID: rid, Message: fmt.Sprintf("instance %s is not in this account", id)}
}

// mbps turns an API bandwidth into the value specscale sees. On bare metal
// 0 means "no limit below the model's cap"; it reads as MaxBandwidthMbps.
func (p *Provider) mbps(v float64) float64 {
	if v <= 0 && p.svc.typeName == TypeBMC {
		return float64(p.opts.MaxBandwidthMbps)
	}
	return v
}

// parseExpiry reads expiredTime (documented as YYYY-MM-DDThh:mm:ssZ).
func parseExpiry(s *string) time.Time {
	if s == nil || *s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, *s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Current implements providers.Provider. It reads DescribeInstances
// (status, charge type, value) and then the resource's change status
// (DescribeInstanceInternetStatus or DescribeInstanceTypeStatus) for a
// change in progress or waiting for the next billing cycle.
func (p *Provider) Current(ctx context.Context, t providers.Target) (providers.Spec, error) {
	if err := p.supports(t.Resource, "Current"); err != nil {
		return providers.Spec{}, err
	}
	in, err := p.describe(ctx, t.Instance)
	if err != nil {
		return providers.Spec{}, err
	}
	spec := providers.Spec{
		Target:   t,
		Status:   in.InstanceStatus,
		Prepaid:  strings.EqualFold(in.InstanceChargeType, "PREPAID"),
		CycleEnd: parseExpiry(in.ExpiredTime),
	}
	status := strings.ToUpper(in.InstanceStatus)
	switch t.Resource {
	case providers.BandwidthOut:
		spec.Ready = status == statusRunning
		spec.Min, spec.Max = 1, float64(p.opts.MaxBandwidthMbps)
		var st internetStatus
		if _, err := p.api.call(ctx, actionDescribeInternetStatus, instanceRequest{InstanceID: t.Instance}, &st); err != nil {
			return providers.Spec{}, err
		}
		switch {
		case p.svc.typeName == TypeBMC && in.BandwidthOutMbps != nil:
			spec.Value = p.mbps(*in.BandwidthOutMbps)
		case p.svc.typeName == TypeVM && in.InternetMaxBWOut != nil:
			spec.Value = p.mbps(*in.InternetMaxBWOut)
		case st.InternetMaxBandwidthOut != nil:
			spec.Value = p.mbps(*st.InternetMaxBandwidthOut)
		}
		if state, ok := pendingState(st.ModifiedBandwidthStatus); ok && st.ModifiedInternetMaxBandwidthOut != nil {
			spec.Pending = &providers.Pending{Value: p.mbps(*st.ModifiedInternetMaxBandwidthOut), State: state}
		}
	case providers.InstanceType:
		spec.Ready = status == statusRunning || status == statusStopped
		var name string
		if json.Unmarshal(in.InstanceType, &name) == nil {
			spec.Name = name
		}
		var st typeStatus
		if _, err := p.api.call(ctx, actionDescribeTypeStatus, instanceRequest{InstanceID: t.Instance}, &st); err != nil {
			return providers.Spec{}, err
		}
		if spec.Name == "" {
			spec.Name = st.InstanceType
		}
		if state, ok := pendingState(st.ModifiedInstanceTypeStatus); ok && st.ModifiedInstanceType != "" {
			spec.Pending = &providers.Pending{Name: st.ModifiedInstanceType, State: state}
		}
	}
	if spec.Pending != nil && spec.Pending.State == providers.NextCycle {
		spec.Pending.EffectiveAt = spec.CycleEnd
	}
	return spec, nil
}

// wants reports whether value/name is what c asks for.
func wants(c providers.Change, value float64, name string) bool {
	if c.Target.Resource == providers.InstanceType {
		return name == c.Name
	}
	return value == c.Value
}

// settled returns the result of c when spec shows it already done or
// accepted, so that Apply need not write.
func settled(spec providers.Spec, c providers.Change) (providers.Result, bool) {
	if p := spec.Pending; p != nil {
		if wants(c, p.Value, p.Name) {
			return providers.Result{Outcome: p.State, EffectiveAt: p.EffectiveAt}, true
		}
		return providers.Result{}, false
	}
	if wants(c, spec.Value, spec.Name) {
		return providers.Result{Outcome: providers.Applied}, true
	}
	return providers.Result{}, false
}

func paramsOf(c providers.Change) string {
	return c.Target.Key() + "|" + strconv.FormatFloat(c.Value, 'g', -1, 64) + "|" + c.Name
}

// checkChange refuses, before any call, what the API cannot do.
func (p *Provider) checkChange(c providers.Change) error {
	if err := p.supports(c.Target.Resource, "Apply"); err != nil {
		return err
	}
	if !providers.ValidInstanceID(c.Target.Instance) {
		return p.refuse("Apply", "instance id %q is not valid", c.Target.Instance)
	}
	if c.Temporary != nil {
		return p.refuse("Apply", "Zenlayer has no temporary (self-reverting) changes")
	}
	switch c.Target.Resource {
	case providers.BandwidthOut:
		rc := p.caps.Resources[providers.BandwidthOut]
		if c.Name != "" {
			return p.refuse("Apply", "bandwidth_out takes a value, not a name (%q)", c.Name)
		}
		if c.Value != math.Trunc(c.Value) || c.Value < rc.Min || c.Value > rc.Max {
			return p.refuse("Apply", "bandwidth_out %v Mbit/s: want a whole number from %v to %v", c.Value, rc.Min, rc.Max)
		}
	case providers.InstanceType:
		if strings.TrimSpace(c.Name) == "" {
			return p.refuse("Apply", "instance_type needs the target type's name (e.g. c.2c4g)")
		}
	}
	return nil
}

// Apply implements providers.Provider.
//
// Zenlayer's write calls take no client token, so Apply is idempotent by
// reading first: when the target already has the value, or has an accepted
// change to it in progress or waiting for the next cycle, it writes nothing
// and reports that state. It also remembers each token's first result for
// tokenMemoryTTL, in memory, so a retry gets the same order number. What
// this cannot cover (a change made elsewhere between the read and the
// write, memory lost on restart) is in docs/providers.md.
func (p *Provider) Apply(ctx context.Context, c providers.Change) (providers.Result, error) {
	if err := p.checkChange(c); err != nil {
		return providers.Result{}, err
	}
	unlock, err := p.locks.lock(ctx, c.Target.Key())
	if err != nil {
		return providers.Result{}, providers.TransportError(p.svc.typeName, "Apply", err)
	}
	defer unlock()
	params := paramsOf(c)
	if rec, ok := p.tokens.get(c.Token, p.now()); ok {
		if rec.params != params {
			return providers.Result{}, p.refuse("Apply", "token %s was used for a different change", c.Token)
		}
		return rec.result, nil
	}
	before, err := p.Current(ctx, c.Target)
	if err != nil {
		return providers.Result{}, err
	}
	if res, ok := settled(before, c); ok {
		p.tokens.put(c.Token, params, res, p.now())
		p.log.Info("zenlayer change already in place", zap.String("target", c.Target.Key()),
			zap.String("outcome", string(res.Outcome)))
		return res, nil
	}

	action, req := p.request(c)
	var out orderResponse
	rid, err := p.api.call(ctx, action, req, &out)
	if err != nil {
		if isCode(err, CodeTypeNotChanged) {
			return p.afterNotChanged(ctx, c, params, err)
		}
		p.log.Warn("zenlayer change refused", zap.String("target", c.Target.Key()), zap.Error(err))
		return providers.Result{}, err
	}
	res := providers.Result{Outcome: providers.Applied, OrderID: string(out.OrderNumber), RequestID: rid}
	res.Outcome, res.EffectiveAt = p.outcome(ctx, c, before)
	p.tokens.put(c.Token, params, res, p.now())
	p.log.Info("zenlayer change accepted", zap.String("target", c.Target.Key()), zap.String("action", action),
		zap.String("outcome", string(res.Outcome)), zap.String("order", res.OrderID), zap.String("request_id", rid))
	return res, nil
}

func (p *Provider) request(c providers.Change) (string, any) {
	if c.Target.Resource == providers.InstanceType {
		return actionModifyType, modifyTypeRequest{InstanceID: c.Target.Instance, InstanceTypeID: c.Name}
	}
	// The two services name the bandwidth field differently.
	return actionModifyBandwidth, map[string]any{"instanceId": c.Target.Instance, p.svc.bandwidthField: int64(c.Value)}
}

// outcome reads the change status right after an accepted write: the write
// answers only with an order number, and only the status call tells a
// next-cycle order from one in progress. If that read fails, it guesses from
// what it read before (Current will correct it): a prepaid bandwidth
// downgrade waits for the next cycle, other bandwidth changes apply, a type
// change is processing.
func (p *Provider) outcome(ctx context.Context, c providers.Change, before providers.Spec) (providers.Outcome, time.Time) {
	after, err := p.Current(ctx, c.Target)
	if err == nil {
		if after.Pending != nil && wants(c, after.Pending.Value, after.Pending.Name) {
			return after.Pending.State, after.Pending.EffectiveAt
		}
		if after.Pending == nil && wants(c, after.Value, after.Name) {
			return providers.Applied, time.Time{}
		}
		// Accepted but not visible yet.
		return providers.Processing, time.Time{}
	}
	p.log.Warn("zenlayer change accepted; reading its status failed", zap.String("target", c.Target.Key()), zap.Error(err))
	switch {
	case c.Target.Resource == providers.InstanceType:
		return providers.Processing, time.Time{}
	case before.Prepaid && c.Value < before.Value:
		return providers.NextCycle, before.CycleEnd
	}
	return providers.Applied, time.Time{}
}

// afterNotChanged handles INVALID_INSTANCE_TYPE_NOT_CHANGED: the type is
// already the target (someone, or an earlier attempt of ours, got there
// between our read and our write). A fresh read decides; if it does not
// show the target, the refusal stands.
func (p *Provider) afterNotChanged(ctx context.Context, c providers.Change, params string, refusal error) (providers.Result, error) {
	spec, err := p.Current(ctx, c.Target)
	if err != nil {
		return providers.Result{}, refusal
	}
	res, ok := settled(spec, c)
	if !ok {
		return providers.Result{}, refusal
	}
	p.tokens.put(c.Token, params, res, p.now())
	p.log.Info("zenlayer change already in place", zap.String("target", c.Target.Key()),
		zap.String("outcome", string(res.Outcome)))
	return res, nil
}
