package zenlayer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
)

// contentType is sent and signed verbatim; the published signature example
// uses it.
const contentType = "application/json; charset=utf-8"

// maxBody bounds how much of a response the client reads.
const maxBody = 8 << 20

// client calls one Zenlayer service (/api/v2/bmc or /api/v2/vm) with one
// access key pair. It is safe for concurrent use. It never logs or returns
// the password, the Authorization header or a request body.
type client struct {
	typeName string // provider type, for errors
	url      string // https://console.zenlayer.com/api/v2/bmc
	host     string // as sent in Host and signed
	service  string
	version  string
	keyID    string
	password string
	timeout  time.Duration
	http     *http.Client
	now      func() time.Time
	log      *zap.Logger
}

// envelope is the success body: {"requestId", "response": {...}}.
type envelope struct {
	RequestID string          `json:"requestId"`
	Response  json.RawMessage `json:"response"`
}

// apiError is the failure body: {"requestId", "code", "message"}.
type apiError struct {
	RequestID string `json:"requestId"`
	Code      string `json:"code"`
	Message   string `json:"message"`
}

// call sends action with body in and decodes the "response" object into
// out. It returns the request ID of every answer it got. Errors are
// *providers.Error: the API's refusal, classified, or ClassUnknown when no
// answer came (a timeout, a refused connection, a cancelled ctx — wrapped so
// that errors.Is finds the context error).
func (c *client) call(ctx context.Context, action string, in, out any) (string, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return "", &providers.Error{Class: providers.ClassInvalid, Provider: c.typeName, Op: action,
			Message: "encode request", Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return "", &providers.Error{Class: providers.ClassInvalid, Provider: c.typeName, Op: action,
			Message: "build request", Err: err}
	}
	ts := c.now().Unix()
	req.Host = c.host
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-ZC-Action", action)
	req.Header.Set("X-ZC-Version", c.version)
	req.Header.Set("X-ZC-Service", c.service)
	req.Header.Set("X-ZC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-ZC-Signature-Method", Algorithm)
	req.Header.Set("Authorization", Authorization(c.keyID, c.password, contentType, c.host, body, ts))

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.Debug("zenlayer call failed", zap.String("action", action), zap.Duration("took", time.Since(start)), zap.Error(err))
		return "", providers.TransportError(c.typeName, action, transportCause(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", providers.TransportError(c.typeName, action, transportCause(err))
	}
	c.log.Debug("zenlayer call", zap.String("action", action), zap.Int("http_status", resp.StatusCode),
		zap.Duration("took", time.Since(start)))

	if resp.StatusCode != http.StatusOK {
		return c.refusal(action, resp, raw)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || len(env.Response) == 0 || string(env.Response) == "null" {
		// A 200 we cannot read: the call may have done its work.
		return env.RequestID, &providers.Error{Class: providers.ClassUnknown, Provider: c.typeName, Op: action,
			HTTPStatus: resp.StatusCode, RequestID: env.RequestID, Message: "unreadable success body: " + snippet(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(env.Response, out); err != nil {
			return env.RequestID, &providers.Error{Class: providers.ClassUnknown, Provider: c.typeName, Op: action,
				HTTPStatus: resp.StatusCode, RequestID: env.RequestID, Message: "unexpected response shape", Err: err}
		}
	}
	return env.RequestID, nil
}

// refusal turns a non-200 answer into a classified error.
func (c *client) refusal(action string, resp *http.Response, raw []byte) (string, error) {
	var ae apiError
	if err := json.Unmarshal(raw, &ae); err != nil || ae.Code == "" {
		// Not the API's envelope: a gateway or proxy answered.
		ae = apiError{Code: "HTTP" + strconv.Itoa(resp.StatusCode), Message: snippet(raw)}
	}
	pe := &providers.Error{
		Class:      classify(resp.StatusCode, ae.Code),
		Provider:   c.typeName,
		Op:         action,
		HTTPStatus: resp.StatusCode,
		Code:       ae.Code,
		Message:    ae.Message,
		RequestID:  ae.RequestID,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
	}
	return ae.RequestID, pe
}

// transportCause drops *url.Error's URL (the endpoint, harmless but noisy)
// while keeping the cause chain for errors.Is.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// retryAfter reads a Retry-After header in seconds; the API documents none,
// but a gateway in front of it may send one.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// snippet is the first bytes of a body we could not parse, for the error
// message.
func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
