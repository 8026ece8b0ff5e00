package simcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/specscale/specscale/providers"
)

// The HTTP API of `specscale simcloud`:
//
//	GET  /v1/spec?instance=ID&resource=R   → providers.Spec (or an APIError)
//	POST /v1/apply     {target, value, name, token, temporary} → Entry
//	GET  /v1/ledger    → []Entry
//	GET  /v1/instances → []Instance
//	PUT  /v1/instances {Instance} creates or replaces one
//	PUT  /v1/faults    {Faults}
//	GET  /v1/stats     → Stats
//	GET  /v1/rules     → Rules
type applyRequest struct {
	Target    providers.Target  `json:"target"`
	Value     float64           `json:"value"`
	Name      string            `json:"name,omitempty"`
	Token     string            `json:"token"`
	Temporary *providers.Window `json:"temporary,omitempty"`
}

// Server serves a Cloud over HTTP.
type Server struct {
	Cloud *Cloud
	mux   *http.ServeMux
}

// NewServer returns the HTTP API of c.
func NewServer(c *Cloud) *Server {
	s := &Server{Cloud: c, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/spec", s.spec)
	s.mux.HandleFunc("POST /v1/apply", s.apply)
	s.mux.HandleFunc("GET /v1/ledger", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, c.Ledger()) })
	s.mux.HandleFunc("GET /v1/instances", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, c.Instances()) })
	s.mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, c.Stats()) })
	s.mux.HandleFunc("GET /v1/rules", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, c.Rules()) })
	s.mux.HandleFunc("PUT /v1/instances", s.putInstance)
	s.mux.HandleFunc("PUT /v1/faults", s.putFaults)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) wait(r *http.Request) bool {
	l := Local{Cloud: s.Cloud}
	return l.wait(r.Context()) == nil
}

func (s *Server) spec(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	t := providers.Target{Account: r.URL.Query().Get("account"), Resource: providers.Resource(r.URL.Query().Get("resource")), Instance: r.URL.Query().Get("instance")}
	spec, aerr := s.Cloud.Current(t)
	if aerr != nil {
		writeJSON(w, aerr.HTTPStatus, aerr)
		return
	}
	writeJSON(w, 200, spec)
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	var req applyRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, 400, &APIError{Code: CodeInvalidValue, Message: "bad request body: " + err.Error()})
		return
	}
	if !s.wait(r) {
		return
	}
	e, aerr := s.Cloud.Apply(providers.Change{Target: req.Target, Value: req.Value, Name: req.Name, Token: req.Token, Temporary: req.Temporary})
	if aerr != nil {
		writeJSON(w, aerr.HTTPStatus, aerr)
		return
	}
	writeJSON(w, 200, e)
}

func (s *Server) putInstance(w http.ResponseWriter, r *http.Request) {
	var in Instance
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		writeJSON(w, 400, &APIError{Code: CodeInvalidValue, Message: err.Error()})
		return
	}
	if err := s.Cloud.Put(in); err != nil {
		writeJSON(w, 400, &APIError{Code: CodeInvalidValue, Message: err.Error()})
		return
	}
	writeJSON(w, 200, in)
}

func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&f); err != nil {
		writeJSON(w, 400, &APIError{Code: CodeInvalidValue, Message: err.Error()})
		return
	}
	s.Cloud.SetFaults(f)
	writeJSON(w, 200, f)
}

// Client is a provider that talks to `specscale simcloud` over HTTP.
type Client struct {
	base  *url.URL
	http  *http.Client
	rules Rules
}

var _ providers.Provider = (*Client)(nil)

// NewClient returns a client of the cloud at baseURL. It reads the cloud's
// rules once, for Capabilities.
func NewClient(ctx context.Context, baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("simulated cloud url %q: want http://host:port", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{base: u, http: hc}
	if err := c.do(ctx, http.MethodGet, "/v1/rules", nil, &c.rules, "Rules"); err != nil {
		return nil, fmt.Errorf("read simulated cloud rules: %w", err)
	}
	return c, nil
}

// Capabilities implements providers.Provider.
func (c *Client) Capabilities() providers.Capabilities { return Capabilities(c.rules) }

// Current implements providers.Provider.
func (c *Client) Current(ctx context.Context, t providers.Target) (providers.Spec, error) {
	q := url.Values{"account": {t.Account}, "resource": {string(t.Resource)}, "instance": {t.Instance}}
	var spec providers.Spec
	err := c.do(ctx, http.MethodGet, "/v1/spec?"+q.Encode(), nil, &spec, "Current")
	return spec, err
}

// Apply implements providers.Provider.
func (c *Client) Apply(ctx context.Context, ch providers.Change) (providers.Result, error) {
	var e Entry
	req := applyRequest{Target: ch.Target, Value: ch.Value, Name: ch.Name, Token: ch.Token, Temporary: ch.Temporary}
	if err := c.do(ctx, http.MethodPost, "/v1/apply", req, &e, "Apply"); err != nil {
		return providers.Result{}, err
	}
	return resultOf(e), nil
}

// Ledger reads the cloud's ledger.
func (c *Client) Ledger(ctx context.Context) ([]Entry, error) {
	var l []Entry
	err := c.do(ctx, http.MethodGet, "/v1/ledger", nil, &l, "Ledger")
	return l, err
}

// PutInstance creates or replaces an instance.
func (c *Client) PutInstance(ctx context.Context, in Instance) error {
	return c.do(ctx, http.MethodPut, "/v1/instances", in, nil, "PutInstance")
}

// SetFaults replaces the cloud's fault settings.
func (c *Client) SetFaults(ctx context.Context, f Faults) error {
	return c.do(ctx, http.MethodPut, "/v1/faults", f, nil, "SetFaults")
}

// Stats reads the cloud's counters.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := c.do(ctx, http.MethodGet, "/v1/stats", nil, &s, "Stats")
	return s, err
}

func (c *Client) do(ctx context.Context, method, path string, body, out any, op string) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base.JoinPath()
	ref, _ := url.Parse(path)
	u = u.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return providers.TransportError(TypeName, op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return providers.TransportError(TypeName, op, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ae APIError
		if err := json.Unmarshal(b, &ae); err != nil || ae.Code == "" {
			return &providers.Error{Class: providers.ClassRetryLater, Provider: TypeName, Op: op, HTTPStatus: resp.StatusCode,
				Code: "HTTP" + fmt.Sprint(resp.StatusCode), Message: string(bytes.TrimSpace(b))}
		}
		ae.HTTPStatus = resp.StatusCode
		return ae.ToProvider(op)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return providers.TransportError(TypeName, op, errors.New("bad response body: "+err.Error()))
	}
	return nil
}

// Instances reads every instance of the cloud.
func (c *Client) Instances(ctx context.Context) ([]Instance, error) {
	var l []Instance
	err := c.do(ctx, http.MethodGet, "/v1/instances", nil, &l, "Instances")
	return l, err
}
