package aliyun

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	ecs "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/specscale/specscale/providers"
)

// instance is what the adapter reads of an ECS instance.
type instance struct {
	id                 string
	status             string
	chargeType         string // PrePaid or PostPaid
	internetChargeType string // PayByTraffic or PayByBandwidth
	instanceType       string
	out, in            int
	expired            time.Time
	eip                bool
	locks              []string
}

func (in instance) prepaid() bool { return in.chargeType == "PrePaid" }

// maxOut is the widest outbound bandwidth ECS accepts for the instance:
// 0–200 for subscription pay-by-bandwidth, 0–100 otherwise. (The instance
// type's own cap also applies; the API does not tell it.)
func (in instance) maxOut() int {
	if in.prepaid() && in.internetChargeType == "PayByBandwidth" {
		return 200
	}
	return 100
}

// maxIn is the widest inbound bandwidth: 1 to max(10, outbound).
func (in instance) maxIn() int { return max(10, in.out) }

// temporaryOK reports whether the instance takes a native temporary
// upgrade. DescribeInstances shows a bound EIP in EipAddress; an instance
// whose EIP it does not show is refused by ECS with
// BandwidthUpgradeDenied.EipBoundInstance.
func (in instance) temporaryOK() bool {
	return in.prepaid() && in.internetChargeType == "PayByBandwidth" && !in.eip
}

// bandwidthReady: bandwidth changes need Running or Stopped.
func (in instance) bandwidthReady() bool {
	return (in.status == "Running" || in.status == "Stopped") && len(in.locks) == 0
}

// typeReady: a type change needs Stopped.
func (in instance) typeReady() bool { return in.status == "Stopped" && len(in.locks) == 0 }

// Current implements providers.Provider.
func (p *Provider) Current(ctx context.Context, t providers.Target) (providers.Spec, error) {
	if _, ok := Capabilities().Resource(t.Resource); !ok {
		return providers.Spec{}, refuse(opDescribe, providers.ClassInvalid, "aliyun does not change %q", t.Resource)
	}
	in, err := p.describe(ctx, t.Instance)
	if err != nil {
		return providers.Spec{}, err
	}
	return specOf(t, in), nil
}

func specOf(t providers.Target, in instance) providers.Spec {
	s := providers.Spec{Target: t, Status: in.status, Prepaid: in.prepaid()}
	if s.Prepaid {
		s.CycleEnd = in.expired
	}
	switch t.Resource {
	case providers.BandwidthOut:
		s.Value, s.Ready = float64(in.out), in.bandwidthReady()
		s.Min, s.Max = 0, float64(in.maxOut())
		s.Temporary = in.temporaryOK()
	case providers.BandwidthIn:
		s.Value, s.Ready = float64(in.in), in.bandwidthReady()
		s.Min, s.Max = 1, float64(in.maxIn())
	case providers.InstanceType:
		s.Name, s.Ready = in.instanceType, in.typeReady()
	}
	return s
}

// describe reads one instance. ECS answers an unknown ID with an empty list,
// which becomes ClassNotFound with the code the write calls use.
func (p *Provider) describe(ctx context.Context, id string) (instance, error) {
	if !providers.ValidInstanceID(id) {
		return instance{}, refuse(opDescribe, providers.ClassInvalid, "instance ID %q is not valid", id)
	}
	ids, _ := json.Marshal([]string{id})
	req := &ecs.DescribeInstancesRequest{RegionId: dara.String(p.set.region), InstanceIds: dara.String(string(ids))}
	var body *ecs.DescribeInstancesResponseBody
	reqID, err := p.invoke(ctx, opDescribe, id, func(ctx context.Context, client *ecs.Client) (string, error) {
		resp, err := client.DescribeInstancesWithContext(ctx, req, &dara.RuntimeOptions{})
		if err != nil {
			return "", err
		}
		if resp == nil || resp.Body == nil {
			return "", fmt.Errorf("DescribeInstances answered without a body")
		}
		body = resp.Body
		return dara.StringValue(body.RequestId), nil
	})
	if err != nil {
		return instance{}, err
	}
	if body.Instances != nil {
		for _, it := range body.Instances.Instance {
			if it != nil && dara.StringValue(it.InstanceId) == id {
				return instanceOf(it), nil
			}
		}
	}
	return instance{}, &providers.Error{Class: providers.ClassNotFound, Provider: TypeName, Op: opDescribe,
		Code: "InvalidInstanceId.NotFound", RequestID: reqID,
		Message: fmt.Sprintf("no instance %s in region %s", id, p.set.region)}
}

func instanceOf(it *ecs.DescribeInstancesResponseBodyInstancesInstance) instance {
	in := instance{
		id:                 dara.StringValue(it.InstanceId),
		status:             dara.StringValue(it.Status),
		chargeType:         dara.StringValue(it.InstanceChargeType),
		internetChargeType: dara.StringValue(it.InternetChargeType),
		instanceType:       dara.StringValue(it.InstanceType),
		out:                max(0, int(dara.Int32Value(it.InternetMaxBandwidthOut))),
		in:                 max(0, int(dara.Int32Value(it.InternetMaxBandwidthIn))),
		expired:            parseExpired(dara.StringValue(it.ExpiredTime)),
	}
	if it.EipAddress != nil && dara.StringValue(it.EipAddress.AllocationId) != "" {
		in.eip = true
	}
	if it.OperationLocks != nil {
		for _, l := range it.OperationLocks.LockReason {
			if l == nil {
				continue
			}
			if r := dara.StringValue(l.LockReason); r != "" && !slices.Contains(in.locks, r) {
				in.locks = append(in.locks, r)
			}
		}
	}
	return in
}

// parseExpired reads ExpiredTime ("2017-12-10T04:04Z"); zero if it cannot.
func parseExpired(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04Z", time.RFC3339, "2006-01-02T15:04:05Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
