package aliyun

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	ecs "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
)

// newSDKClient configures the official client. What it changes from the
// SDK's defaults, and why:
//   - no retries (RetryOptions nil): the executor retries, with the same
//     ClientToken, after reading Current; the SDK's backoff sleeps ignore the
//     context (dara.Sleep) and take milliseconds for seconds;
//   - its own HTTP client (httpDoer): the SDK's default client is shared
//     process-wide and has its Timeout rewritten on every request; ours is
//     per account, and the call's context (with the account timeout) bounds
//     every request;
//   - DisableSDKError: errors arrive as the SDK's typed ThrottlingError,
//     ClientError and ServerError, which keep the throttling header's
//     TimeLeft and the request ID that the *tea.SDKError wrapper drops.
//
// An SDK client is not safe for concurrent use (every RPC call rewrites
// client.Headers in GetRpcHeaders, and NewClient writes to its config), so
// the provider keeps a pool and gives each call in flight its own client;
// they all share one doer (safe for concurrent use) and its
// connections.
func newSDKClient(set settings, id, secret, token string, doer *httpDoer) (*ecs.Client, error) {
	ms := int(set.timeout / time.Millisecond)
	cfg := &openapiutil.Config{
		AccessKeyId:     dara.String(id),
		AccessKeySecret: dara.String(secret),
		RegionId:        dara.String(set.region),
		Protocol:        dara.String(set.protocol),
		ReadTimeout:     dara.Int(ms),
		ConnectTimeout:  dara.Int(ms),
		UserAgent:       dara.String("specscale"),
		HttpClient:      doer,
	}
	if token != "" {
		cfg.SecurityToken = dara.String(token)
	}
	if set.endpoint != "" {
		cfg.Endpoint = dara.String(set.endpoint)
	}
	if set.signature == SignatureV2 {
		cfg.SignatureAlgorithm = dara.String("v2")
	}
	client, err := ecs.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	client.DisableSDKError = dara.Bool(true)
	client.Client.DisableSDKError = dara.Bool(true)
	return client, nil
}

// clientPool hands out SDK clients, one per call in flight.
type clientPool struct {
	pool sync.Pool
	make func() (*ecs.Client, error)
}

func (cp *clientPool) get() (*ecs.Client, error) {
	if c, ok := cp.pool.Get().(*ecs.Client); ok {
		return c, nil
	}
	return cp.make()
}

func (cp *clientPool) put(c *ecs.Client) { cp.pool.Put(c) }

// httpDoer is the SDK's HTTP client. It ignores the transport the SDK builds
// per request and strips the query from transport errors: a V1-signed URL
// carries the security token.
type httpDoer struct {
	hc     *http.Client
	redact redactor
}

func newHTTPDoer(rd redactor) *httpDoer {
	return &httpDoer{hc: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, redact: rd}
}

func (d *httpDoer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	resp, err := d.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				u.RawQuery, u.Fragment = "", ""
				ue.URL = u.String()
			}
		}
		return nil, redactedError{err: err, redact: d.redact}
	}
	return resp, nil
}

// invoke runs one SDK call under the account timeout and turns its failure
// into a *providers.Error. A call that ends with its context (cancelled,
// deadline passed) is ClassUnknown and wraps the context's error: the
// request may have reached ECS.
func (p *Provider) invoke(ctx context.Context, op, instance string, call func(ctx context.Context, c *ecs.Client) (requestID string, err error)) (string, error) {
	client, err := p.clients.get()
	if err != nil {
		return "", p.transport(op, err)
	}
	defer p.clients.put(client)
	cctx, cancel := context.WithTimeout(ctx, p.set.timeout)
	defer cancel()
	start := time.Now()
	reqID, err := call(cctx, client)
	log := p.log.With(zap.String("op", op), zap.String("instance", instance), zap.Duration("took", time.Since(start)))
	if err == nil {
		log.Debug("ecs call", zap.String("request_id", reqID))
		return reqID, nil
	}
	pe := p.sdkError(cctx, op, err)
	log.Debug("ecs call failed", zap.Stringer("class", pe.Class), zap.String("code", pe.Code),
		zap.Int("http_status", pe.HTTPStatus), zap.String("request_id", pe.RequestID), zap.String("error", pe.Error()))
	return "", pe
}

// redactor removes secrets from text that came back from the wire (API
// messages quote the string to sign, which holds the security token) or from
// the SDK (errors may quote URLs).
type redactor struct {
	forms []string
}

func newRedactor(secrets ...string) redactor {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		pe := percentEncode(s)
		for _, f := range []string{s, url.QueryEscape(s), url.PathEscape(s), pe, percentEncode(pe), url.QueryEscape(url.QueryEscape(s))} {
			if !slices.Contains(forms, f) {
				forms = append(forms, f)
			}
		}
	}
	// Longest first, so that an encoded form is not half replaced by a
	// shorter one.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return redactor{forms: forms}
}

func (r redactor) clean(s string) string {
	for _, f := range r.forms {
		s = strings.ReplaceAll(s, f, "[REDACTED]")
	}
	return s
}

// percentEncode is the encoding of both signature schemes (RFC 3986
// unreserved characters kept, %20 for a space).
func percentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

// redactedError keeps err for errors.Is and errors.As but prints it cleaned.
type redactedError struct {
	err    error
	redact redactor
}

func (e redactedError) Error() string { return e.redact.clean(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

// contextError is the error of a call that ended with its context: ctx's
// error, for errors.Is, with the transport's words after it.
type contextError struct {
	ctxErr error
	cause  error
}

func (e contextError) Error() string {
	if e.cause == nil || errors.Is(e.cause, e.ctxErr) {
		return e.ctxErr.Error()
	}
	return e.ctxErr.Error() + " (" + e.cause.Error() + ")"
}

func (e contextError) Unwrap() []error { return []error{e.ctxErr, e.cause} }

// transport wraps a failure to get an answer as ClassUnknown.
func (p *Provider) transport(op string, err error) *providers.Error {
	return providers.TransportError(TypeName, op, redactedError{err: err, redact: p.redact})
}
