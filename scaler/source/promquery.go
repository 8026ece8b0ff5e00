package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"
)

// queryVector runs an instant query and streams the answer's samples to fn
// by the value of label, without building a model.Vector.
//
// client_golang's v1.API reads the whole body into a growing buffer and
// decodes every sample through model.Sample's UnmarshalJSON, which
// re-validates and re-scans each series: at 10,000 series that was 70 % of
// an evaluation tick and 30 allocations per series. One streaming pass over
// the body keeps only the label asked for and the value. The request is the
// one v1.API sends: a form POST to /api/v1/query, and a GET when the server
// refuses POST.
func queryVector(ctx context.Context, hc *http.Client, base *url.URL, query string, ts time.Time, timeout time.Duration, label string, fn func(string, float64)) error {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/query"
	args := url.Values{}
	args.Set("query", query)
	if !ts.IsZero() {
		args.Set("time", strconv.FormatFloat(float64(ts.Unix())+float64(ts.Nanosecond())/1e9, 'f', -1, 64))
	}
	if timeout > 0 {
		args.Set("timeout", timeout.String())
	}
	form := args.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header["Idempotency-Key"] = nil // retry on a network error: the query has no side effect
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		drain(resp)
		u.RawQuery = form
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil); err != nil {
			return err
		}
		if resp, err = hc.Do(req); err != nil {
			return err
		}
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if e := decodeError(body); e != "" {
			return fmt.Errorf("prometheus answered %d: %s", resp.StatusCode, e)
		}
		return fmt.Errorf("prometheus answered %d", resp.StatusCode)
	}
	iter := jsoniter.Parse(jsoniter.ConfigDefault, resp.Body, 32<<10)
	return decodeVector(iter, label, fn)
}

// drain reads what is left of a body, so that the connection is reused,
// and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

// decodeError returns "errorType: error" from an API error body, or "".
func decodeError(body []byte) string {
	iter := jsoniter.ConfigDefault.BorrowIterator(body)
	defer jsoniter.ConfigDefault.ReturnIterator(iter)
	var typ, msg string
	for field := iter.ReadObject(); field != "" && iter.Error == nil; field = iter.ReadObject() {
		switch field {
		case "errorType":
			typ = iter.ReadString()
		case "error":
			msg = iter.ReadString()
		default:
			iter.Skip()
		}
	}
	if msg == "" {
		return ""
	}
	return typ + ": " + msg
}

// decodeVector reads a query API answer and calls fn once per sample of an
// instant vector that carries label, with its value (NaN and ±Inf
// included; the caller decides what is usable). Native-histogram samples
// have no single value and are skipped.
func decodeVector(iter *jsoniter.Iterator, label string, fn func(string, float64)) error {
	var status, resultType, apiErr string
	// Samples are collected only until the result type is known: Prometheus
	// sends it first, but JSON does not promise an order.
	var early []pendingSample
	var sawResult bool
	for field := iter.ReadObject(); field != "" && iter.Error == nil; field = iter.ReadObject() {
		switch field {
		case "status":
			status = iter.ReadString()
		case "error":
			apiErr = iter.ReadString()
		case "data":
			if iter.WhatIsNext() == jsoniter.NilValue {
				iter.Skip()
				continue
			}
			for df := iter.ReadObject(); df != "" && iter.Error == nil; df = iter.ReadObject() {
				switch df {
				case "resultType":
					resultType = iter.ReadString()
				case "result":
					sawResult = true
					if resultType != "" && resultType != "vector" {
						iter.Skip()
						continue
					}
					emit := fn
					if resultType == "" {
						emit = func(inst string, v float64) { early = append(early, pendingSample{inst, v}) }
					}
					if err := readSamples(iter, label, emit); err != nil {
						return err
					}
				default:
					iter.Skip()
				}
			}
		default:
			iter.Skip()
		}
	}
	if iter.Error != nil {
		return fmt.Errorf("decode query answer: %w", iter.Error)
	}
	if status != "success" {
		if apiErr == "" {
			apiErr = "status " + strconv.Quote(status)
		}
		return fmt.Errorf("query failed: %s", apiErr)
	}
	if !sawResult {
		return errors.New("query answer has no result")
	}
	if resultType != "vector" {
		return fmt.Errorf("%w (got %s)", ErrNotVector, resultType)
	}
	for _, s := range early {
		fn(s.instance, s.value)
	}
	return nil
}

type pendingSample struct {
	instance string
	value    float64
}

// readSamples reads the result array of a vector. Anything but an array of
// objects is not a vector (a scalar or string result is a [ts, "v"] pair).
func readSamples(iter *jsoniter.Iterator, label string, fn func(string, float64)) error {
	if iter.WhatIsNext() != jsoniter.ArrayValue {
		return ErrNotVector
	}
	for iter.ReadArray() {
		if iter.WhatIsNext() != jsoniter.ObjectValue {
			return ErrNotVector
		}
		var inst string
		var hasInst, hasValue bool
		var v float64
		for f := iter.ReadObject(); f != "" && iter.Error == nil; f = iter.ReadObject() {
			switch f {
			case "metric":
				for ln := iter.ReadObject(); ln != "" && iter.Error == nil; ln = iter.ReadObject() {
					if ln == label {
						inst, hasInst = iter.ReadString(), true
					} else {
						iter.Skip()
					}
				}
			case "value":
				// [unix seconds, "value"]
				if !iter.ReadArray() {
					break
				}
				iter.Skip()
				if !iter.ReadArray() {
					break
				}
				s := iter.ReadString()
				var err error
				if v, err = strconv.ParseFloat(s, 64); err != nil {
					return fmt.Errorf("decode query answer: sample value %q: %w", s, err)
				}
				hasValue = true
				for iter.ReadArray() {
					iter.Skip()
				}
			case "values":
				return ErrNotVector // a matrix
			default:
				iter.Skip() // "histogram", future fields
			}
		}
		if iter.Error != nil {
			return fmt.Errorf("decode query answer: %w", iter.Error)
		}
		if hasInst && hasValue {
			fn(inst, v)
		}
	}
	return nil
}
