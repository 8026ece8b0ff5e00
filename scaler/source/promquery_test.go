package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jsoniter "github.com/json-iterator/go"
	promcfg "github.com/prometheus/common/config"

	"github.com/specscale/specscale/policy"
)

type got struct {
	inst string
	v    float64
}

func collect(body, label string) ([]got, error) {
	var out []got
	err := decodeVector(jsoniter.ParseString(jsoniter.ConfigDefault, body), label, func(inst string, v float64) { out = append(out, got{inst, v}) })
	return out, err
}

func TestDecodeVector(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		label   string
		want    []got
		wantErr string
		notVec  bool
	}{
		{
			name: "vector fans out by the label, series without it are ignored",
			body: `{"status":"success","data":{"resultType":"vector","result":[
				{"metric":{"__name__":"tx","host":"web-1","job":"x"},"value":[1700000000.5,"45"]},
				{"metric":{"host":"web-2"},"value":[1700000000.5,"5.25"]},
				{"metric":{"job":"x"},"value":[1700000000.5,"9"]}]},"warnings":["w"]}`,
			label: "host",
			want:  []got{{"web-1", 45}, {"web-2", 5.25}},
		},
		{
			name:  "special values come through for the caller to judge",
			body:  `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"value":[1,"NaN"]},{"metric":{"instance":"b"},"value":[1,"+Inf"]}]}}`,
			label: "instance",
			want:  []got{{"a", math.NaN()}, {"b", math.Inf(1)}},
		},
		{
			name:  "escaped label values are unescaped",
			body:  `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a\"b\u00e9"},"value":[1,"1"]}]}}`,
			label: "instance",
			want:  []got{{`a"bé`, 1}},
		},
		{
			name:  "result before resultType",
			body:  `{"data":{"result":[{"metric":{"instance":"a"},"value":[1,"2"]}],"resultType":"vector"},"status":"success"}`,
			label: "instance",
			want:  []got{{"a", 2}},
		},
		{
			name:  "a native histogram sample has no single value",
			body:  `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"histogram":[1,{"count":"3","sum":"4","buckets":[]}]}]}}`,
			label: "instance",
		},
		{
			name:  "empty vector",
			body:  `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			label: "instance",
		},
		{name: "matrix", body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`, label: "instance", notVec: true},
		{name: "matrix without a result type first", body: `{"status":"success","data":{"result":[{"metric":{},"values":[[1,"1"]]}]}}`, label: "instance", notVec: true},
		{name: "scalar", body: `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`, label: "instance", notVec: true},
		{name: "error status", body: `{"status":"error","errorType":"bad_data","error":"parse error"}`, label: "instance", wantErr: "query failed: parse error"},
		{name: "truncated", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"value":[1,"2"]}`, label: "instance", wantErr: "decode query answer"},
		{name: "bad value", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"value":[1,"x"]}]}}`, label: "instance", wantErr: `sample value "x"`},
		{name: "no result", body: `{"status":"success","data":{"resultType":"vector"}}`, label: "instance", wantErr: "query answer has no result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := collect(tt.body, tt.label)
			switch {
			case tt.notVec:
				if !errors.Is(err, ErrNotVector) {
					t.Fatalf("err = %v, want ErrNotVector", err)
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			if len(out) != len(tt.want) {
				t.Fatalf("samples = %v, want %v", out, tt.want)
			}
			for i := range out {
				w := tt.want[i]
				if out[i].inst != w.inst || (out[i].v != w.v && !(math.IsNaN(w.v) && math.IsNaN(out[i].v))) {
					t.Errorf("sample %d = %v, want %v", i, out[i], w)
				}
			}
		})
	}
}

// The request is the one client_golang's v1.API sends: a form POST with
// query, time and timeout; a GET with the same arguments when POST is
// refused; API errors come back with Prometheus' own message.
func TestPrometheusPoll(t *testing.T) {
	var posts, gets int
	var lastForm url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodPost {
			posts++
			if strings.Contains(r.URL.RawQuery, "nopost") {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
		} else {
			gets++
		}
		_ = r.ParseForm()
		lastForm = r.Form
		switch r.Form.Get("query") {
		case "bad(":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}`)
		case "down":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"value":[1,"3"]},{"metric":{"instance":"b"},"value":[1,"NaN"]}]}}`)
		}
	}))
	defer srv.Close()
	at := time.Unix(1700000000, 500_000_000)
	poll := func(base, query string) (map[string]float64, error) {
		s, err := NewPrometheus("prom", base, promcfg.HTTPClientConfig{}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p := &policy.Policy{Name: "web", Metric: policy.Metric{Query: query, Label: "instance"}}
		out := map[string]float64{}
		err = s.Poll(context.Background(), p, at, func(inst string, v float64) { out[inst] = v })
		return out, err
	}

	out, err := poll(srv.URL, "up")
	if err != nil || len(out) != 1 || out["a"] != 3 {
		t.Fatalf("poll = %v, %v; want a=3 only (NaN is not usable)", out, err)
	}
	if lastForm.Get("time") != "1700000000.5" || lastForm.Get("timeout") != "5s" || posts != 1 || gets != 0 {
		t.Errorf("form %v, %d posts, %d gets", lastForm, posts, gets)
	}

	if _, err := poll(srv.URL+"/?nopost=1", "up"); err != nil || gets != 1 {
		t.Errorf("fallback to GET: err %v, %d gets", err, gets)
	}

	_, err = poll(srv.URL, "bad(")
	if want := `source "prom": query for policy "web": prometheus answered 400: bad_data: 1:5: parse error: unclosed left parenthesis`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	_, err = poll(srv.URL, "down")
	if want := `source "prom": query for policy "web": prometheus answered 503`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}
