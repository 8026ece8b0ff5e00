package providers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Class sorts provider errors by what the executor does about them.
type Class int

const (
	// ClassUnknown: the outcome is unknown (a timeout or a dropped
	// connection after the request left). Retry with the same token after
	// re-reading Current.
	ClassUnknown Class = iota
	// ClassRetryLater: throttling or a transient fault; retry after
	// Error.RetryAfter (or a backoff).
	ClassRetryLater
	// ClassInProgress: an earlier order is still processing; retry soon.
	ClassInProgress
	// ClassCooldown: the provider's lock after a change; retry after it.
	ClassCooldown
	// ClassQuota: a per-cycle limit (downgrades) is spent until the cycle
	// ends.
	ClassQuota
	// ClassStatus: the instance's status does not allow the change now.
	ClassStatus
	// ClassInvalid: the request is wrong and will stay wrong.
	ClassInvalid
	// ClassNotFound: the instance (or its product) does not exist.
	ClassNotFound
	// ClassAccount: the account needs a person (balance, arrears, unpaid
	// order, bad credentials).
	ClassAccount
)

var classNames = [...]string{
	ClassUnknown:    "unknown",
	ClassRetryLater: "retry_later",
	ClassInProgress: "in_progress",
	ClassCooldown:   "cooldown",
	ClassQuota:      "quota",
	ClassStatus:     "status",
	ClassInvalid:    "invalid",
	ClassNotFound:   "not_found",
	ClassAccount:    "account",
}

func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Retryable reports whether an error of this class may succeed later without
// a person doing something.
func (c Class) Retryable() bool {
	switch c {
	case ClassUnknown, ClassRetryLater, ClassInProgress, ClassCooldown, ClassStatus:
		return true
	}
	return false
}

// Sentinel errors, one per class, for errors.Is. An *Error matches the
// sentinel of its class.
var (
	ErrUnknownOutcome = &classError{ClassUnknown}
	ErrRetryLater     = &classError{ClassRetryLater}
	ErrInProgress     = &classError{ClassInProgress}
	ErrCooldown       = &classError{ClassCooldown}
	ErrQuota          = &classError{ClassQuota}
	ErrStatus         = &classError{ClassStatus}
	ErrInvalid        = &classError{ClassInvalid}
	ErrNotFound       = &classError{ClassNotFound}
	ErrAccount        = &classError{ClassAccount}
)

type classError struct{ class Class }

func (e *classError) Error() string { return "provider error: " + e.class.String() }

// Error is a provider's refusal or failure, classified. It keeps the
// provider's own code, message and request ID. It never holds a credential:
// adapters build Message from the response body only.
type Error struct {
	Class      Class
	Provider   string // provider type, "aliyun"
	Op         string // the API action, "ModifyInstanceNetworkSpec"
	HTTPStatus int
	Code       string
	Message    string
	RequestID  string
	// RetryAfter, when non-zero, is how long the provider asked us to wait.
	RetryAfter time.Duration
	// Err is an underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Provider, e.Op, e.Class)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's class.
func (e *Error) Is(target error) bool {
	if ce, ok := target.(*classError); ok {
		return ce.class == e.Class
	}
	return false
}

// ClassOf returns the class of err: the class of an *Error in its chain,
// ClassUnknown for a context deadline or a network error, and ClassInvalid
// for anything else (a bug in the request we built, which retrying will not
// fix). A cancelled context is ClassUnknown too: the call may have reached
// the provider.
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ne) {
		return ClassUnknown
	}
	return ClassInvalid
}

// RetryAfterOf returns the provider's requested wait, or zero.
func RetryAfterOf(err error) time.Duration {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.RetryAfter
	}
	return 0
}

// TransportError wraps a failure to get an answer at all (timeout, refused
// connection, cancelled context) as ClassUnknown: the request may or may not
// have reached the provider.
func TransportError(provider, op string, err error) *Error {
	return &Error{Class: ClassUnknown, Provider: provider, Op: op, Err: err}
}
