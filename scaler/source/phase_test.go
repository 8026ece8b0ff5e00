package source

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	promcfg "github.com/prometheus/common/config"
)

func at(sec int64, ms int) time.Time {
	return time.Unix(sec, int64(ms)*int64(time.Millisecond))
}

func TestBestPhase(t *testing.T) {
	s := time.Second
	tests := []struct {
		name     string
		ends     []time.Time
		interval time.Duration
		want     time.Duration
	}{
		{"one scrape target", []time.Time{at(1700000000, 420)}, s, 420 * time.Millisecond},
		{"the interval is counted from the epoch", []time.Time{at(1700000003, 250)}, 15 * s, 8*s + 250*time.Millisecond},
		{"targets close together: the last of them", []time.Time{at(100, 300), at(101, 310), at(99, 320)}, s, 320 * time.Millisecond},
		{
			// Phases 900, 950, 50 ms: evaluating at 50 waits 150+100+0 ms,
			// at 950 waits 50+0+900, at 900 waits 0+950+850.
			"a cluster across the interval's edge", []time.Time{at(5, 900), at(6, 950), at(7, 50)}, s, 50 * time.Millisecond,
		},
		{
			// Two clusters: 3 targets at ~200, 1 at 700. At 210 the wait is
			// 10+5+0+510 = 525 ms; at 700: 500+495+490+0 = 1485 ms.
			"the larger cluster wins", []time.Time{at(1, 200), at(1, 205), at(1, 210), at(1, 700)}, s, 210 * time.Millisecond,
		},
		{"no scrape", nil, s, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BestPhase(tt.ends, tt.interval); got != tt.want {
				t.Errorf("BestPhase = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextAligned(t *testing.T) {
	s := time.Second
	tests := []struct {
		now             time.Time
		interval, phase time.Duration
		want            time.Time
	}{
		{at(100, 200), s, 500 * time.Millisecond, at(100, 500)},
		{at(100, 700), s, 500 * time.Millisecond, at(101, 500)},
		{at(100, 500), s, 500 * time.Millisecond, at(101, 500)}, // strictly after now
		{at(100, 0), 15 * s, 2 * s, at(107, 0)},                 // 105 is a multiple of 15
		{at(100, 0), s, 1200 * time.Millisecond, at(100, 200)},  // a phase past the interval wraps
	}
	for _, tt := range tests {
		if got := NextAligned(tt.now, tt.interval, tt.phase); !got.Equal(tt.want) {
			t.Errorf("NextAligned(%v, %v, %v) = %v, want %v", tt.now.UnixMilli(), tt.interval, tt.phase, got.UnixMilli(), tt.want.UnixMilli())
		}
	}
}

// targetsAnswer is /api/v1/targets as Prometheus 2.x writes it.
const targetsAnswer = `{"status":"success","data":{"activeTargets":[
 {"discoveredLabels":{"__address__":"a:9100","job":"node"},"labels":{"instance":"a:9100","job":"node"},
  "scrapePool":"node","scrapeUrl":"http://a:9100/metrics","globalUrl":"http://a:9100/metrics","lastError":"",
  "lastScrape":"2026-11-27T10:00:03.300000000Z","lastScrapeDuration":0.02,"health":"up","scrapeInterval":"1s","scrapeTimeout":"1s"},
 {"discoveredLabels":{"__address__":"b:9100","job":"node"},"labels":{"instance":"b:9100","job":"node"},
  "scrapePool":"node","scrapeUrl":"http://b:9100/metrics","globalUrl":"http://b:9100/metrics","lastError":"connection refused",
  "lastScrape":"2026-11-27T10:00:03.800000000Z","lastScrapeDuration":0.001,"health":"down","scrapeInterval":"1s","scrapeTimeout":"1s"},
 {"discoveredLabels":{"__address__":"c:9090","job":"prometheus"},"labels":{"instance":"c:9090","job":"prometheus"},
  "scrapePool":"prometheus","scrapeUrl":"http://c:9090/metrics","globalUrl":"http://c:9090/metrics","lastError":"",
  "lastScrape":"2026-11-27T10:00:03.600000000Z","lastScrapeDuration":0.01,"health":"up","scrapeInterval":"1s","scrapeTimeout":"1s"}
],"droppedTargets":[]}}`

func TestScrapePhaseFromTargets(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/targets" {
			http.NotFound(w, r)
			return
		}
		auth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, targetsAnswer)
	}))
	defer srv.Close()
	hc := promcfg.HTTPClientConfig{BearerToken: "t0ken"}
	p, err := NewPrometheus("prom", srv.URL, hc, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Only the healthy target of the job counts: it ended at .320.
	got, err := p.ScrapePhase(ctx, "node", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got != 320*time.Millisecond {
		t.Errorf("phase = %v, want 320ms", got)
	}
	if auth != "Bearer t0ken" {
		t.Errorf("targets asked with Authorization %q: the source's http_config was not used", auth)
	}
	if _, err := p.ScrapePhase(ctx, "nope", time.Second); err == nil || !strings.Contains(err.Error(), `no healthy scrape target of job "nope"`) {
		t.Errorf("unknown job: err = %v", err)
	}
}
