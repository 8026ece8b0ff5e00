package aliyun

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/aliyun/ecsfake"
	"github.com/specscale/specscale/providers/providertest"
)

// documentedError is one row of an ECS error table.
type documentedError struct {
	op     string // the call that documents it
	status int
	code   string
	msg    string
	want   providers.Class
}

const (
	netw = opNetworkSpec
	spec = opSpec
)

// documentedErrors is every row of the error tables of the two seed pages
// (002 ModifyInstanceNetworkSpec, 003 ModifyInstanceSpec) and the codes
// providers.md adds. Messages documented as "%s" get a sample text.
func documentedErrors() []documentedError {
	return []documentedError{
		// 002 ModifyInstanceNetworkSpec.
		{netw, 404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.", providers.ClassNotFound},
		{netw, 400, "InvalidInternetMaxBandwidthIn.ValueNotSupported", "The specified InternetMaxBandwidthIn is beyond the permitted range.", providers.ClassInvalid},
		{netw, 400, "InvalidInternetMaxBandwidthOut.ValueNotSupported", "The specified InternetMaxBandwidthOut is beyond the permitted range.", providers.ClassInvalid},
		{netw, 403, "IncorrectInstanceStatus", "The current status of the instance does not support this operation.", providers.ClassStatus},
		{netw, 403, "InstanceLockedForSecurity", "The specified operation is denied as your instance is locked for security reasons.", providers.ClassAccount},
		{netw, 403, "InstanceExpiredOrInArrears", "The specified operation is denied as your prepay instance is expired (prepay mode) or in arrears (afterpay mode).", providers.ClassAccount},
		{netw, 500, "InternalError", "The request processing has failed due to some unknown error.", providers.ClassRetryLater},
		{netw, 403, "ChargeTypeViolation", "The operation is not permitted due to billing method of the instance.", providers.ClassInvalid},
		{netw, 403, "OperationDenied", "The operation is denied due to the instance is PrePaid.", providers.ClassInvalid},
		{netw, 400, "OperationDenied", "Specified instance is in VPC.", providers.ClassInvalid},
		{netw, 400, "InvalidParameter.Bandwidth", "The bandwidth is not valid.", providers.ClassInvalid},
		{netw, 400, "InvalidParameter.Conflict", "The parameters conflict.", providers.ClassInvalid},
		{netw, 400, "InvalidStartTime.ValueNotSupported", "EndTime is earlier than StartTime.", providers.ClassInvalid},
		{netw, 400, "Account.Arrearage", "Your account has an outstanding payment.", providers.ClassAccount},
		{netw, 400, "InvalidInternetChargeType.ValueNotSupported", "The specified InternetChargeType is invalid.", providers.ClassInvalid},
		{netw, 400, "DecreasedBandwidthNotAllowed", "The bandwidth cannot be decreased.", providers.ClassInvalid},
		{netw, 400, "BandwidthUpgradeDenied.EipBoundInstance", "The specified VPC instance has bound EIP, temporary bandwidth upgrade is denied.", providers.ClassInvalid},
		{netw, 400, "InvalidClientToken.ValueNotSupported", "The ClientToken provided is invalid.", providers.ClassInvalid},
		{netw, 403, "InvalidAccountStatus.NotEnoughBalance", "Your account does not have enough balance.", providers.ClassAccount},
		{netw, 403, "InvalidInstance.UnPaidOrder", "The specified Instance has unpaid order.", providers.ClassAccount},
		{netw, 400, "Throttling", "Request was denied due to request throttling, please try again after 5 minutes.", providers.ClassRetryLater},
		{netw, 400, "InvalidAction", "Specified action is not valid.", providers.ClassInvalid},
		{netw, 400, "IpAllocationError", "Allocate public ip failed.", providers.ClassRetryLater},
		{netw, 400, "InvalidParam.AllocatePublicIp", "The specified param AllocatePublicIp is invalid.", providers.ClassInvalid},
		{netw, 400, "InstanceDowngrade.QuotaExceed", "Quota of instance downgrade is exceed.", providers.ClassQuota},
		{netw, 400, "InvalidBandwidth.ValueNotSupported", "Instance upgrade bandwidth of temporary not allow less then existed.", providers.ClassInvalid},
		{netw, 403, "InvalidInstance.InstanceNotSupported", "The special vpc instance with eip not need bandwidth.", providers.ClassInvalid},
		{netw, 400, "InvalidInstanceStatus", "The specified instance status does not support this action.", providers.ClassStatus},
		{netw, 403, "InvalidInstanceStatus", "The current status of the instance does not support this operation.", providers.ClassStatus},
		{netw, 400, "InvalidInstance.UnPaidOrder", "Unpaid order exists in your account, please complete or cancel the payment in the expense center.", providers.ClassAccount},
		{netw, 400, "OperationDenied", "After downgrade, you cannot upgrade or downgrade your instances again in the remaining time of the current billing cycle.", providers.ClassQuota},
		{netw, 400, "InvalidInternetChargeType.ValueNotSupported", "The InternetChargeType cannot be changed.", providers.ClassInvalid},
		{netw, 400, "LastOrderProcessing", "The previous order is still processing, please try again later.", providers.ClassInProgress},
		{netw, 400, "OperationDenied", "The current user does not support this operation.", providers.ClassAccount},
		{netw, 403, "NAT_PUBLIC_IP_BINDING_FAILED", "Binding nat public ip failed", providers.ClassRetryLater},
		{netw, 403, "InvalidInstance.EipNotSupport", "The specified instance with eip is not supported, please unassociate eip first.", providers.ClassInvalid},
		{netw, 403, "InvalidNetworkType.ValueNotSupported", "The specified parameter NetworkType is not valid.", providers.ClassInvalid},
		{netw, 500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.", providers.ClassRetryLater},

		// 003 ModifyInstanceSpec.
		{spec, 400, "InvalidInternetChargeType.ValueNotSupported", "The specified InternetChargeType is not valid.", providers.ClassInvalid},
		{spec, 400, "InvalidInstanceType.ValueUnauthorized", "The specified InstanceType does not exist or beyond the permitted range.", providers.ClassInvalid},
		{spec, 400, "InvalidInstanceType.ValueUnauthorized", "The specified InstanceType is not authorized.", providers.ClassInvalid},
		{spec, 404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.", providers.ClassNotFound},
		{spec, 400, "InvalidInstanceType.ValueNotSupported", "The specified InstanceType does not exist or beyond the permitted range.", providers.ClassInvalid},
		{spec, 400, "InvalidParameter", `The specified parameter "InternetMaxBandwidthOut" is not valid.`, providers.ClassInvalid},
		{spec, 400, "InvalidParameter.Mismatch", "Too many parameters in one request.", providers.ClassInvalid},
		{spec, 403, "CategoryViolation", "The specified instance does not support this operation because of its disk category.", providers.ClassInvalid},
		{spec, 403, "InvalidStatus.ValueNotSupported", "The current status of the resource does not support this operation.", providers.ClassStatus},
		{spec, 403, "InstanceLockedForSecurity", "The specified operation is denied as your instance is locked for security reasons.", providers.ClassAccount},
		{spec, 500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.", providers.ClassRetryLater},
		{spec, 403, "InvalidAccountStatus.NotEnoughBalance", "Your account does not have enough balance.", providers.ClassAccount},
		{spec, 403, "ChargeTypeViolation", "The operation is not permitted due to charge type of the instance.", providers.ClassInvalid},
		{spec, 403, "OperationDenied", "The specified instance is out of usage.", providers.ClassRetryLater},
		{spec, 400, "BandwidthUpgradeDenied.EipBoundInstance", "The specified VPC instance has bound EIP, temporary bandwidth upgrade is denied.", providers.ClassInvalid},
		{spec, 404, "MissingTemporary.StartTime", "Temporary.StartTime is not specified.", providers.ClassInvalid},
		{spec, 404, "MissingTemporary.EndTime", "Temporary.EndTime is not specified.", providers.ClassInvalid},
		{spec, 400, "InvalidTemporary.StartTime", "The specifed Temporary.StartTime is not valid.", providers.ClassInvalid},
		{spec, 400, "InvalidTemporary.EndTime", "The specifed Temporary.EndTime is not valid.", providers.ClassInvalid},
		{spec, 403, "LastTokenProcessing", "The last token request is processing.", providers.ClassInProgress},
		{spec, 400, "Downgrade.NotSupported", "Downgrade operation is not supported.", providers.ClassInvalid},
		{spec, 403, "InstanceSpecModification.NotEffective", "The specified instance has been reserved for making a spec modification and not taken effective in the current contract period.", providers.ClassQuota},
		{spec, 400, "DependencyViolation.InstanceType", "The current InstanceType cannot be changed to the specified InstanceType.", providers.ClassInvalid},
		{spec, 403, "InvalidInstanceType.ValueNotSupported", "The specified zone does not offer the specified instancetype.", providers.ClassInvalid},
		{spec, 403, "ImageNotSupportInstanceType", "The specified image do not support the InstanceType instance.", providers.ClassInvalid},
		{spec, 400, "Account.Arrearage", "Your account has an outstanding payment.", providers.ClassAccount},
		{spec, 400, "InvalidParameter.Bandwidth", "The specified parameter Bandwidth is not valid.", providers.ClassInvalid},
		{spec, 400, "InvalidParameter.Conflict", "The specified image does not support the specified instance type.", providers.ClassInvalid},
		{spec, 400, "InvalidParameter.AllowMigrateAcrossZone", "The specified parameter CanMigrateAcrossZone is not valid.", providers.ClassInvalid},
		{spec, 400, "InvalidParam.SystemDiskCategory", "The specified param SystemDisk.Category is not valid.", providers.ClassInvalid},
		{spec, 400, "Throttling", "Request was denied due to request throttling, please try again after 5 minutes.", providers.ClassRetryLater},
		{spec, 400, "InvalidInstanceStatus.NotStopped", "The specified Instance status is not stopped.", providers.ClassStatus},
		{spec, 403, "InstanceType.Offline", "The specified InstanceType has been offline", providers.ClassInvalid},
		{spec, 400, "InvalidAction", "Specified action is not valid.", providers.ClassInvalid},
		{spec, 400, "IdempotenceParamNotMatch", "There is a idempotence signature mismatch between this and last request.", providers.ClassInvalid},
		{spec, 400, "InvalidClientToken.ValueNotSupported", "The ClientToken provided is invalid.", providers.ClassInvalid},
		{spec, 400, "Price.PricePlanResultNotFound", "The internetMaxBandwidthIn or internetMaxBandwidthOut provided is invalid.", providers.ClassInvalid},
		{spec, 403, "InvalidParameter.NotMatch", "The parameters conflict with each other.", providers.ClassInvalid},
		{spec, 403, "InvalidInstance.EipNotSupport", "The specified instance with eip is not supported, please unassociate eip first.", providers.ClassInvalid},
		{spec, 400, "InvalidAction.NotSupport", "The ecs on dedicatedHost not support modify instanceType.", providers.ClassInvalid},
		{spec, 400, "InvalidMarketImageStatus.NotSupported", "The status of specified market image does not support this operation.", providers.ClassInvalid},
		{spec, 403, "OperationDenied.NoStock", "The resource is out of usage.", providers.ClassRetryLater},
		{spec, 500, "InternalError", "The request processing has failed due to some unknown error.", providers.ClassRetryLater},
		{spec, 403, "OperationDenied", "The operation is denied.", providers.ClassInvalid},
		{spec, 403, "InvalidOperation.Ipv4CountExceeded", "The IPv4 count exceeds the limit.", providers.ClassInvalid},
		{spec, 403, "InvalidOperation.Ipv6CountExceeded", "The IPv6 count exceeds the limit.", providers.ClassInvalid},
		{spec, 403, "InvalidOperation.Ipv6NotSupport", "IPv6 is not supported.", providers.ClassInvalid},
		{spec, 403, "InvalidOperation.InstanceWithEipNotSupport", "The special instance with eip not support operate, please unassociate eip first.", providers.ClassInvalid},
		{spec, 403, "SecurityRisk.3DVerification", "We have detected a security risk with your default credit or debit card. Please proceed with verification via the link in your email.", providers.ClassAccount},
		{spec, 404, "InvalidInstanceChargeType.NotFound", "The InstanceChargeType does not exist in our records", providers.ClassInvalid},

		// providers.md: throttling, signatures, idempotency, transient faults.
		{netw, 400, "Throttling.User", "Request was denied due to user flow control.", providers.ClassRetryLater},
		{netw, 400, "Throttling.Api", "Request was denied due to api flow control.", providers.ClassRetryLater},
		{netw, 400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.", providers.ClassAccount},
		{netw, 400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", providers.ClassAccount},
		{netw, 400, "SignatureNonceUsed", "Specified signature nonce was used already.", providers.ClassUnknown},
		{netw, 400, "IdempotentParameterMismatch", "The request uses the same client token as a previous, but non-identical request.", providers.ClassInvalid},
		{netw, 400, "LastRequestProcessing", "The last request is still processing.", providers.ClassInProgress},
		{netw, 400, "TaskConflict", "The task conflicts with a running task.", providers.ClassInProgress},
		{netw, 503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.", providers.ClassRetryLater},
		{netw, 400, "InvalidAction.WithActiveElasticUpgrade", "The operation is not allowed while a temporary bandwidth upgrade is active.", providers.ClassCooldown},
		{netw, 400, "QuotaExceeded.InternetBandwidth", "The bandwidth quota of the region is exceeded.", providers.ClassAccount},
		// The fake's answer for the 5-minute lock (undocumented code).
		{netw, 409, "OperationConflict", "Request was denied due to conflict with a previous request.", providers.ClassCooldown},
	}
}

var requestIDRE = regexp.MustCompile(`^473469C7-AA6F-4DC5-B3DB-[0-9A-F]{12}$`)

// TestDocumentedErrors has the fake answer each documented error body and
// checks the class and every field the *providers.Error keeps.
func TestDocumentedErrors(t *testing.T) {
	e := newEnv(t, setup{})
	for _, d := range documentedErrors() {
		t.Run(d.op+"/"+d.code+"/"+d.msg, func(t *testing.T) {
			before := e.fake.Changes()
			e.fake.Inject(ecsfake.Fault{HTTPStatus: d.status, Code: d.code, Message: d.msg})
			c := providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "tok-" + d.code}
			if d.op == spec {
				c = providers.Change{Target: target(providers.InstanceType, idPostpaidStopped), Name: "ecs.g6.xlarge", Token: "tok-" + d.code}
			}
			_, err := e.p.Apply(ctxT(t), c)
			if !errors.Is(err, providertest.Sentinel(d.want)) {
				t.Fatalf("err = %v, want class %s", err, d.want)
			}
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not a *providers.Error", err)
			}
			if pe.Class != d.want || pe.Provider != TypeName || pe.Op != d.op || pe.HTTPStatus != d.status || pe.Code != d.code || pe.Message != d.msg {
				t.Errorf("got {%s %s %s %d %s %q}, want {%s aliyun %s %d %s %q}",
					pe.Class, pe.Provider, pe.Op, pe.HTTPStatus, pe.Code, pe.Message, d.want, d.op, d.status, d.code, d.msg)
			}
			if !requestIDRE.MatchString(pe.RequestID) {
				t.Errorf("RequestID = %q, want the fake's", pe.RequestID)
			}
			wantWait := time.Duration(0)
			if d.want == providers.ClassRetryLater && len(d.code) >= 10 && d.code[:10] == "Throttling" {
				wantWait = DefaultThrottleWait
			}
			if pe.RetryAfter != wantWait {
				t.Errorf("RetryAfter = %s, want %s", pe.RetryAfter, wantWait)
			}
			if e.fake.Changes() != before {
				t.Errorf("a refused Apply changed something")
			}
		})
	}
}

// TestThrottleTimeLeft: the x-ratelimit-user-api TimeLeft (milliseconds, as
// the SDK reads it) replaces the documented 5 minutes.
func TestThrottleTimeLeft(t *testing.T) {
	tests := []struct {
		name     string
		code     string
		timeLeft int
		want     time.Duration
	}{
		{"header", "Throttling.User", 2500, 2500 * time.Millisecond},
		{"no header", "Throttling.Api", 0, DefaultThrottleWait},
		{"long", "Throttling", 600000, 10 * time.Minute},
	}
	for _, sig := range []string{"", SignatureV2} {
		e := newEnv(t, setup{signature: sig})
		for _, tt := range tests {
			t.Run(sig+tt.name, func(t *testing.T) {
				e.fake.Inject(ecsfake.Fault{HTTPStatus: 400, Code: tt.code, Message: "Request was denied due to flow control.", TimeLeft: tt.timeLeft})
				_, err := e.p.Apply(ctxT(t), providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "t"})
				if got := providers.ClassOf(err); got != providers.ClassRetryLater {
					t.Fatalf("class = %s (%v), want retry_later", got, err)
				}
				if got := providers.RetryAfterOf(err); got != tt.want {
					t.Errorf("RetryAfter = %s, want %s", got, tt.want)
				}
			})
		}
	}
}

// TestClassifyFallback covers codes no document names.
func TestClassifyFallback(t *testing.T) {
	tests := []struct {
		code   string
		msg    string
		status int
		want   providers.Class
	}{
		{"Throttling.Something", "", 400, providers.ClassRetryLater},
		{"InvalidSecurityToken.Expired", "", 400, providers.ClassAccount},
		{"InvalidSecurityToken.MismatchWithAccessKey", "", 400, providers.ClassAccount},
		{"InvalidAccessKeyId.NotFound", "", 404, providers.ClassAccount},
		{"SomethingNew", "", 502, providers.ClassRetryLater},
		{"SomethingNew", "", 400, providers.ClassInvalid},
		{"SomethingNew", "", 404, providers.ClassInvalid},
		{"OperationDenied", "anything else", 403, providers.ClassInvalid},
	}
	for _, tt := range tests {
		if got := classify(tt.code, tt.msg, tt.status); got != tt.want {
			t.Errorf("classify(%q, %q, %d) = %s, want %s", tt.code, tt.msg, tt.status, got, tt.want)
		}
	}
}
