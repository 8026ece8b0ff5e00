package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/specscale/specscale/providers"
)

// DefaultThrottleWait is how long to wait after Throttling when the answer
// carries no TimeLeft: the documents say "try again after 5 minutes".
const DefaultThrottleWait = 5 * time.Minute

// answer is an error answer as the SDK delivered it.
type answer struct {
	status    int
	code      string
	message   string
	requestID string
	timeLeft  int64 // ms, from x-ratelimit-user(-api) TimeLeft
}

// sdkError turns what an SDK call returned into a *providers.Error.
func (p *Provider) sdkError(ctx context.Context, op string, err error) *providers.Error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return p.transport(op, contextError{ctxErr: ctxErr, cause: err})
	}
	a, ok := answerOf(err)
	if !ok {
		// No answer from ECS: a transport failure, or a body that could not
		// be read. Either way the request may have been carried out.
		return p.transport(op, err)
	}
	pe := &providers.Error{
		Class: classify(a.code, a.message, a.status), Provider: TypeName, Op: op,
		HTTPStatus: a.status, Code: a.code, Message: p.redact.clean(a.message), RequestID: a.requestID,
	}
	if pe.Class == providers.ClassRetryLater && strings.HasPrefix(a.code, "Throttling") {
		pe.RetryAfter = DefaultThrottleWait
		if a.timeLeft > 0 {
			pe.RetryAfter = time.Duration(a.timeLeft) * time.Millisecond
		}
	}
	return pe
}

// answerOf extracts ECS's answer from the SDK's error types. The message is
// the body's Message: the SDK's own Message prefixes the status and appends
// the request ID.
func answerOf(err error) (answer, bool) {
	var (
		te *openapi.ThrottlingError
		ce *openapi.ClientError
		se *openapi.ServerError
		sd *tea.SDKError
	)
	switch {
	case errors.As(err, &te):
		a := answerFromData(dara.IntValue(te.StatusCode), dara.StringValue(te.Code), dara.StringValue(te.RequestId), te.Data)
		a.timeLeft = dara.Int64Value(te.RetryAfter)
		return a, true
	case errors.As(err, &ce):
		return answerFromData(dara.IntValue(ce.StatusCode), dara.StringValue(ce.Code), dara.StringValue(ce.RequestId), ce.Data), true
	case errors.As(err, &se):
		return answerFromData(dara.IntValue(se.StatusCode), dara.StringValue(se.Code), dara.StringValue(se.RequestId), se.Data), true
	case errors.As(err, &sd):
		// The SDK's default wrapper, should anything produce it: Data is the
		// body as JSON.
		var data map[string]any
		_ = json.Unmarshal([]byte(dara.StringValue(sd.Data)), &data)
		a := answerFromData(dara.IntValue(sd.StatusCode), dara.StringValue(sd.Code), "", data)
		if a.message == "" {
			a.message = dara.StringValue(sd.Message)
		}
		return a, a.code != "" && a.status != 0
	}
	return answer{}, false
}

func answerFromData(status int, code, requestID string, data map[string]any) answer {
	str := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := data[k]; ok && v != nil {
				return fmt.Sprint(v)
			}
		}
		return ""
	}
	a := answer{status: status, code: code, requestID: requestID, message: str("Message", "message")}
	if a.code == "" {
		a.code = str("Code", "code")
	}
	if a.requestID == "" {
		a.requestID = str("RequestId", "requestId")
	}
	return a
}

// classify sorts an ECS error code into a class. The same code can mean
// different things: OperationDenied is told apart by its message. Codes no
// document names fall back on the HTTP status: 5xx retry later, the rest is
// invalid (a person looks at it rather than the daemon retrying blindly).
func classify(code, message string, status int) providers.Class {
	switch code {
	// Throttling and transient faults: retry later.
	case "Throttling", "Throttling.User", "Throttling.Api",
		"InternalError", "ServiceUnavailable",
		"IpAllocationError",            // allocating the public IP failed
		"NAT_PUBLIC_IP_BINDING_FAILED", // binding the NAT public IP failed
		"OperationDenied.NoStock":      // the target type is out of stock
		return providers.ClassRetryLater

	// An earlier order or request on the instance is still running.
	case "LastOrderProcessing", "LastRequestProcessing", "LastTokenProcessing", "TaskConflict":
		return providers.ClassInProgress

	// A lock that ends by itself. The code of the 5-minute lock after a
	// change is documented nowhere; ECS's "conflict with a previous
	// request" codes are the likeliest (UNVERIFIED). An active temporary
	// upgrade blocks changes until its window ends.
	case "OperationConflict", "InvalidOperation.Conflict", "InvalidAction.WithActiveElasticUpgrade":
		return providers.ClassCooldown

	// Spent until the billing cycle ends.
	case "InstanceDowngrade.QuotaExceed",
		"InstanceSpecModification.NotEffective": // a spec change reserved for this contract period
		return providers.ClassQuota

	// The instance's status does not allow it now.
	case "IncorrectInstanceStatus", "InvalidInstanceStatus", "InvalidStatus.ValueNotSupported",
		"InvalidInstanceStatus.NotStopped":
		return providers.ClassStatus

	case "InvalidInstanceId.NotFound":
		return providers.ClassNotFound

	// A person must act: money, orders, security locks, credentials,
	// the clock, account-wide quotas.
	case "Account.Arrearage", "InvalidAccountStatus.NotEnoughBalance", "InstanceExpiredOrInArrears",
		"InvalidInstance.UnPaidOrder", "InstanceLockedForSecurity", "SecurityRisk.3DVerification",
		"QuotaExceeded.InternetBandwidth",
		"SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive",
		"InvalidTimeStamp.Expired", "Forbidden.RAM", "Forbidden":
		return providers.ClassAccount

	// The same nonce was seen before: an earlier delivery of this very
	// request may have been carried out. Re-read, then retry with the same
	// ClientToken (the SDK makes a fresh nonce).
	case "SignatureNonceUsed":
		return providers.ClassUnknown

	case "OperationDenied":
		switch {
		case strings.Contains(message, "After downgrade"):
			// "After downgrade, you cannot upgrade or downgrade your
			// instances again in the remaining time of the current
			// billing cycle."
			return providers.ClassQuota
		case strings.Contains(message, "out of usage"):
			// "The specified instance is out of usage." (out of stock)
			return providers.ClassRetryLater
		case strings.Contains(message, "current user does not support"):
			return providers.ClassAccount
		}
		// "…due to the instance is PrePaid.", "Specified instance is in
		// VPC.", and the bare "%s" variant.
		return providers.ClassInvalid

	// The request is wrong for this instance and will stay wrong.
	case "InvalidInternetMaxBandwidthIn.ValueNotSupported", "InvalidInternetMaxBandwidthOut.ValueNotSupported",
		"ChargeTypeViolation", "InvalidParameter", "InvalidParameter.Bandwidth", "InvalidParameter.Conflict",
		"InvalidParameter.Mismatch", "InvalidParameter.NotMatch", "InvalidParameter.AllowMigrateAcrossZone",
		"InvalidParam.AllocatePublicIp", "InvalidParam.SystemDiskCategory",
		"InvalidStartTime.ValueNotSupported", "MissingTemporary.StartTime", "MissingTemporary.EndTime",
		"InvalidTemporary.StartTime", "InvalidTemporary.EndTime",
		"InvalidInternetChargeType.ValueNotSupported", "InvalidInstanceChargeType.NotFound",
		"DecreasedBandwidthNotAllowed", "Downgrade.NotSupported",
		"BandwidthUpgradeDenied.EipBoundInstance", "InvalidBandwidth.ValueNotSupported",
		"InvalidInstance.InstanceNotSupported", "InvalidInstance.EipNotSupport",
		"InvalidOperation.InstanceWithEipNotSupport", "InvalidNetworkType.ValueNotSupported",
		"InvalidClientToken.ValueNotSupported", "IdempotentParameterMismatch", "IdempotenceParamNotMatch",
		"InvalidAction", "InvalidAction.NotSupport",
		"InvalidInstanceType.ValueUnauthorized", "InvalidInstanceType.ValueNotSupported", "InstanceType.Offline",
		"DependencyViolation.InstanceType", "ImageNotSupportInstanceType", "CategoryViolation",
		"InvalidMarketImageStatus.NotSupported", "Price.PricePlanResultNotFound",
		"InvalidOperation.Ipv4CountExceeded", "InvalidOperation.Ipv6CountExceeded", "InvalidOperation.Ipv6NotSupport",
		"MissingParameter", "IncompleteSignature", "InvalidVersion", "DryRunOperation":
		return providers.ClassInvalid
	}
	switch {
	case strings.HasPrefix(code, "Throttling"):
		return providers.ClassRetryLater
	case strings.HasPrefix(code, "InvalidSecurityToken."), strings.HasPrefix(code, "InvalidAccessKeyId."):
		return providers.ClassAccount
	case status >= 500:
		return providers.ClassRetryLater
	}
	return providers.ClassInvalid
}
