package zenlayer

import (
	"errors"
	"net/http"
	"strings"

	"github.com/specscale/specscale/providers"
)

// Error codes the adapter acts on, as the API documentation spells them.
// The official SDKs spell the same codes in dotted mixed case
// ("Invalid.Instance.Not.Found"); normalizeCode folds both to this form.
const (
	// ModifyInstanceBandwidth (bmc and vm).
	CodeInstanceNotFound     = "INVALID_INSTANCE_NOT_FOUND"
	CodeNotRunning           = "OPERATION_DENIED_INSTANCE_NOT_RUNNING"
	CodeBandwidthExceed      = "INVALID_PARAMETER_BANDWIDTH_EXCEED"
	CodeBandwidthProcessing  = "OPERATION_FAILED_INSTANCE_BANDWIDTH_PROCESSING"
	CodeTypeNotChanged       = "INVALID_INSTANCE_TYPE_NOT_CHANGED"
	CodeTypeUnsupported      = "OPERATION_FAILED_INSTANCE_TYPE_UNSUPPORTED"
	CodeExistPlan            = "OPERATION_DENIED_INSTANCE_EXIST_PLAN"
	CodePlanProcessing       = "OPERATION_DENIED_INSTANCE_PLAN_PROCESSING"
	CodeUnsupportedStatus    = "UNSUPPORTED_OPERATION_INSTANCE_STATUS"
	CodeZoneNotSupport       = "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT"
	CodeBeingRecycled        = "UNSUPPORTED_OPERATION_INSTANCE_BEING_RECYCLE"
	CodeProductNotFound      = "INVALID_PRODUCT_NOT_FOUND"
	CodeRequestLimitExceeded = "REQUEST_LIMIT_EXCEEDED"
	// CodeSignatureFailure is what the fake answers for a bad signature. The
	// real API's code for it is not published where we could confirm it; an
	// unknown code on HTTP 401, or one naming a signature, credential,
	// authorization or balance, is ClassAccount anyway (see classify).
	CodeSignatureFailure = "AUTHFAILURE_SIGNATURE_FAILURE"
)

// codeClasses maps every code of the two seed pages' error tables, and the
// common or SDK-listed codes we could confirm, to the class the executor
// acts on. Where a code is here its class wins over the HTTP status.
var codeClasses = map[string]providers.Class{
	// Seed: BMC ModifyInstanceBandwidth.
	CodeInstanceNotFound:    providers.ClassNotFound,
	CodeNotRunning:          providers.ClassStatus,
	CodeBandwidthExceed:     providers.ClassInvalid,
	CodeBandwidthProcessing: providers.ClassInProgress,

	// Seed: VM ModifyInstanceType.
	// NOT_CHANGED is invalid as a class; Apply turns it into success when a
	// fresh read shows the target already at (or scheduled for) the type.
	CodeTypeNotChanged:  providers.ClassInvalid,
	CodeTypeUnsupported: providers.ClassInvalid,
	// A scheduled (next-cycle) change exists. Nothing but the cycle ending or
	// a person cancelling it (CancelInstanceDowngrade) lets another change
	// through, which is what ClassQuota means to the executor.
	CodeExistPlan:         providers.ClassQuota,
	CodePlanProcessing:    providers.ClassInProgress,
	CodeUnsupportedStatus: providers.ClassStatus,
	CodeZoneNotSupport:    providers.ClassInvalid,
	CodeBeingRecycled:     providers.ClassStatus,
	CodeProductNotFound:   providers.ClassNotFound,

	// Common: rate limit (the official SDKs retry on it).
	CodeRequestLimitExceeded: providers.ClassRetryLater,
	// Common codes the official Terraform provider names.
	"SERVICE_TEMPORARY_UNAVAILABLE": providers.ClassRetryLater,
	"INTERNAL_SERVER_ERROR":         providers.ClassRetryLater,
	// The server gave up on the request; whether a write happened is not
	// known. Apply re-reads before any retry.
	"REQUEST_TIMED_OUT":                   providers.ClassUnknown,
	"OPERATION_FAILED_RESOURCE_NOT_FOUND": providers.ClassNotFound,

	// Listed in the official Go SDK's bmc error constants.
	"OPERATION_DENIED_INSTANCE_STATUS":                  providers.ClassStatus,
	"OPERATION_DENIED_INSTANCE_RECYCLED":                providers.ClassStatus,
	"OPERATION_DENIED_INSTANCE_CREATING":                providers.ClassStatus,
	"OPERATION_DENIED_INSTANCE_STATUS_INSTALLING":       providers.ClassStatus,
	"INVALID_BANDWIDTH_VALUE_EXCEED_MAXIMUM":            providers.ClassInvalid,
	"OPERATION_DENIED_INTERNET_CHARGE_TYPE_NOT_SUPPORT": providers.ClassInvalid,
	"MISSING_PARAMETER":                                 providers.ClassInvalid,

	CodeSignatureFailure: providers.ClassAccount,
}

// accountWords mark a code as the account's problem (credentials, rights,
// money) when the code itself is not in codeClasses.
var accountWords = []string{
	"AUTHFAILURE", "AUTH_FAILURE", "SIGNATURE", "CREDENTIAL", "ACCESS_KEY",
	"UNAUTHORIZED", "PERMISSION", "BALANCE", "ARREAR", "UNPAID",
}

// normalizeCode folds "Invalid.Instance.Not.Found" and
// "INVALID_INSTANCE_NOT_FOUND" to the documented form.
func normalizeCode(code string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), ".", "_"))
}

// classify sorts an API refusal: the code table first, then words in an
// unknown code, then the HTTP status (429 before the words: a rate limit is
// a rate limit whatever its code says). An unknown 4xx is ClassInvalid so that
// the executor stops rather than repeating a request the API rejects.
func classify(httpStatus int, code string) providers.Class {
	code = normalizeCode(code)
	if c, ok := codeClasses[code]; ok {
		return c
	}
	if httpStatus == http.StatusTooManyRequests {
		return providers.ClassRetryLater
	}
	for _, w := range accountWords {
		if strings.Contains(code, w) {
			return providers.ClassAccount
		}
	}
	switch {
	case httpStatus == http.StatusUnauthorized:
		return providers.ClassAccount
	case httpStatus >= 500:
		return providers.ClassRetryLater
	}
	return providers.ClassInvalid
}

// isCode reports whether err is the API's refusal with the given code.
func isCode(err error, code string) bool {
	var pe *providers.Error
	return errors.As(err, &pe) && normalizeCode(pe.Code) == code
}
