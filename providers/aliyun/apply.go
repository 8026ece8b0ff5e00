package aliyun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	ecs "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
)

// opApply names refusals made before the adapter knows which call it would
// make.
const opApply = "Apply"

// window is a temporary upgrade window as ModifyInstanceNetworkSpec takes it.
type window struct {
	start, end string
}

// Apply implements providers.Provider. It refuses, before any call, what is
// wrong whatever the instance (resource, value, temporary window); reads the
// instance with DescribeInstances and refuses what its status, locks, billing
// and ranges rule out; then makes one write call, idempotent by c.Token (sent
// as ClientToken).
func (p *Provider) Apply(ctx context.Context, c providers.Change) (providers.Result, error) {
	w, err := p.check(c)
	if err != nil {
		return providers.Result{}, err
	}
	in, err := p.describe(ctx, c.Target.Instance)
	if err != nil {
		return providers.Result{}, err
	}
	op, err := p.checkInstance(c, w, in)
	if err != nil {
		return providers.Result{}, err
	}
	if op == opSpec {
		return p.modifySpec(ctx, c)
	}
	return p.modifyNetworkSpec(ctx, c, w)
}

// check refuses what no instance would accept.
func (p *Provider) check(c providers.Change) (*window, error) {
	rc, ok := Capabilities().Resource(c.Target.Resource)
	if !ok {
		return nil, refuse(opApply, providers.ClassInvalid, "aliyun does not change %q", c.Target.Resource)
	}
	if !providers.ValidInstanceID(c.Target.Instance) {
		return nil, refuse(opApply, providers.ClassInvalid, "instance ID %q is not valid", c.Target.Instance)
	}
	if rc.Named {
		if c.Temporary != nil {
			return nil, refuse(opSpec, providers.ClassInvalid, "ECS has no temporary change of the instance type")
		}
		if !strings.HasPrefix(c.Name, "ecs.") || len(c.Name) > 64 || strings.ContainsAny(c.Name, " \t\r\n") {
			return nil, refuse(opSpec, providers.ClassInvalid, "instance type %q is not an ECS type name such as ecs.g6.large", c.Name)
		}
		return nil, nil
	}
	if !isWhole(c.Value) || c.Value < rc.Min || c.Value > rc.Max {
		return nil, refuse(opApply, providers.ClassInvalid, "%s %v: ECS takes whole Mbit/s from %v to %v", c.Target.Resource, c.Value, rc.Min, rc.Max)
	}
	if c.Temporary == nil {
		return nil, nil
	}
	if rc.Temporary == nil {
		return nil, refuse(opNetworkSpec, providers.ClassInvalid, "ECS upgrades only %s temporarily, not %s", providers.BandwidthOut, c.Target.Resource)
	}
	return p.window(*c.Temporary)
}

// window checks a temporary window and formats it. ECS takes StartTime to
// the minute and EndTime to the hour, in UTC. The start sent is the later of
// the asked start and now, rounded up to the minute, so that it is never in
// the past; the length is checked on what is sent.
func (p *Provider) window(tw providers.Window) (*window, error) {
	if tw.Start.IsZero() || tw.End.IsZero() {
		return nil, refuse(opNetworkSpec, providers.ClassInvalid, "temporary window needs both a start and an end")
	}
	now := p.now().UTC()
	if late := now.Sub(tw.Start); late > StartSlack {
		return nil, refuse(opNetworkSpec, providers.ClassInvalid,
			"temporary window starts at %s, %s in the past (at most %s allowed)", tw.Start.UTC().Format(time.RFC3339), late.Round(time.Second), StartSlack)
	}
	end := tw.End.UTC()
	if !end.Equal(end.Truncate(time.Hour)) {
		return nil, refuse(opNetworkSpec, providers.ClassInvalid,
			"temporary window ends at %s, not on the hour: ECS takes EndTime to the hour (yyyy-MM-ddTHHZ)", end.Format(time.RFC3339))
	}
	start := tw.Start.UTC()
	if start.Before(now) {
		start = now
	}
	if t := start.Truncate(time.Minute); t.Before(start) {
		start = t.Add(time.Minute)
	}
	switch d := end.Sub(start); {
	case d < MinTemporaryWindow:
		return nil, refuse(opNetworkSpec, providers.ClassInvalid,
			"temporary window %s to %s lasts %s, less than the %s ECS requires", start.Format(time.RFC3339), end.Format(time.RFC3339), d, MinTemporaryWindow)
	case d > MaxTemporaryWindow:
		return nil, refuse(opNetworkSpec, providers.ClassInvalid,
			"temporary window %s to %s lasts %s, more than the %s (6 months) ECS allows", start.Format(time.RFC3339), end.Format(time.RFC3339), d, MaxTemporaryWindow)
	}
	return &window{start: start.Format(startTimeLayout), end: end.Format(endTimeLayout)}, nil
}

// checkInstance refuses what the instance rules out and chooses the call.
func (p *Provider) checkInstance(c providers.Change, w *window, in instance) (string, error) {
	op := opNetworkSpec
	switch {
	case c.Target.Resource == providers.InstanceType:
		op = opSpec
	case !in.prepaid() && w == nil && p.set.postpaidAPI == opSpec:
		op = opSpec
	}
	if len(in.locks) > 0 {
		class := providers.ClassStatus
		for _, l := range in.locks {
			if l == "financial" || l == "security" {
				class = providers.ClassAccount
			}
		}
		return "", refuse(op, class, "instance %s has operation locks %s", in.id, strings.Join(in.locks, ", "))
	}
	if c.Target.Resource == providers.InstanceType {
		if in.prepaid() {
			return "", refuse(op, providers.ClassInvalid,
				"instance %s is a subscription (PrePaid) instance: its type changes through ModifyPrepayInstanceSpec, which specscale does not call", in.id)
		}
		if in.status != "Stopped" {
			return "", refuse(op, providers.ClassStatus, "instance %s is %s: ECS changes the instance type only when it is Stopped", in.id, in.status)
		}
		return op, nil
	}
	if !in.bandwidthReady() {
		return "", refuse(op, providers.ClassStatus, "instance %s is %s: ECS changes bandwidth only when it is Running or Stopped", in.id, in.status)
	}
	v := int(c.Value)
	switch c.Target.Resource {
	case providers.BandwidthOut:
		if v > in.maxOut() {
			return "", refuse(op, providers.ClassInvalid, "outbound %d Mbit/s is above the %d Mbit/s ECS allows for instance %s (%s, %s)",
				v, in.maxOut(), in.id, in.chargeType, in.internetChargeType)
		}
	case providers.BandwidthIn:
		if v > in.maxIn() {
			return "", refuse(op, providers.ClassInvalid, "inbound %d Mbit/s is above the %d Mbit/s ECS allows for instance %s (max(10, outbound %d))",
				v, in.maxIn(), in.id, in.out)
		}
	}
	if w != nil {
		if !in.temporaryOK() {
			eip := ""
			if in.eip {
				eip = ", EIP bound"
			}
			return "", refuse(op, providers.ClassInvalid, "instance %s (%s, %s%s) takes no temporary upgrade: ECS allows it for %s",
				in.id, in.chargeType, in.internetChargeType, eip, temporaryConditions)
		}
		if v < in.out {
			return "", refuse(op, providers.ClassInvalid, "a temporary upgrade to %d Mbit/s would be below the current %d Mbit/s", v, in.out)
		}
	}
	return op, nil
}

// clientToken is c.Token as ClientToken: at most 64 printable ASCII
// characters. A longer or non-ASCII token is replaced by its SHA-256 in hex
// (64 characters), the same for the same token.
func clientToken(tok string) string {
	ok := len(tok) <= 64
	for i := 0; ok && i < len(tok); i++ {
		ok = tok[i] >= 0x20 && tok[i] <= 0x7e
	}
	if ok {
		return tok
	}
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func (p *Provider) modifyNetworkSpec(ctx context.Context, c providers.Change, w *window) (providers.Result, error) {
	id := c.Target.Instance
	req := &ecs.ModifyInstanceNetworkSpecRequest{InstanceId: dara.String(id), AutoPay: dara.Bool(p.set.autoPay)}
	if tok := clientToken(c.Token); tok != "" {
		req.ClientToken = dara.String(tok)
	}
	v := dara.Int32(int32(c.Value))
	if c.Target.Resource == providers.BandwidthIn {
		req.InternetMaxBandwidthIn = v
	} else {
		req.InternetMaxBandwidthOut = v
	}
	if w != nil {
		req.StartTime, req.EndTime = dara.String(w.start), dara.String(w.end)
	}
	var orderID string
	reqID, err := p.invoke(ctx, opNetworkSpec, id, func(ctx context.Context, client *ecs.Client) (string, error) {
		resp, err := client.ModifyInstanceNetworkSpecWithContext(ctx, req, &dara.RuntimeOptions{})
		if err != nil {
			return "", err
		}
		if resp == nil || resp.Body == nil {
			return "", fmt.Errorf("%s answered without a body", opNetworkSpec)
		}
		orderID = dara.StringValue(resp.Body.OrderId)
		return dara.StringValue(resp.Body.RequestId), nil
	})
	if err != nil {
		return providers.Result{}, err
	}
	p.changed(c, opNetworkSpec, reqID, orderID, w)
	return providers.Result{Outcome: providers.Applied, OrderID: orderID, RequestID: reqID}, nil
}

func (p *Provider) modifySpec(ctx context.Context, c providers.Change) (providers.Result, error) {
	id := c.Target.Instance
	req := &ecs.ModifyInstanceSpecRequest{InstanceId: dara.String(id)}
	if tok := clientToken(c.Token); tok != "" {
		req.ClientToken = dara.String(tok)
	}
	switch c.Target.Resource {
	case providers.InstanceType:
		req.InstanceType = dara.String(c.Name)
	case providers.BandwidthIn:
		req.InternetMaxBandwidthIn = dara.Int32(int32(c.Value))
	default:
		req.InternetMaxBandwidthOut = dara.Int32(int32(c.Value))
	}
	reqID, err := p.invoke(ctx, opSpec, id, func(ctx context.Context, client *ecs.Client) (string, error) {
		resp, err := client.ModifyInstanceSpecWithContext(ctx, req, &dara.RuntimeOptions{})
		if err != nil {
			return "", err
		}
		if resp == nil || resp.Body == nil {
			return "", fmt.Errorf("%s answered without a body", opSpec)
		}
		return dara.StringValue(resp.Body.RequestId), nil
	})
	if err != nil {
		return providers.Result{}, err
	}
	p.changed(c, opSpec, reqID, "", nil)
	return providers.Result{Outcome: providers.Applied, RequestID: reqID}, nil
}

func (p *Provider) changed(c providers.Change, op, reqID, orderID string, w *window) {
	fields := []zap.Field{zap.String("target", c.Target.Key()), zap.String("op", op),
		zap.String("request_id", reqID), zap.String("token", c.Token)}
	if c.Name != "" {
		fields = append(fields, zap.String("name", c.Name))
	} else {
		fields = append(fields, zap.Float64("value", c.Value))
	}
	if orderID != "" {
		fields = append(fields, zap.String("order_id", orderID))
	}
	if w != nil {
		fields = append(fields, zap.String("start", w.start), zap.String("end", w.end))
	}
	p.log.Info("ecs change accepted", fields...)
}
