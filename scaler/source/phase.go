package source

import (
	"context"
	"fmt"
	"sort"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Phaser is a source that can tell when the data a query reads is fresh,
// so that evaluations follow the scrapes instead of running at an
// arbitrary offset from them.
type Phaser interface {
	// ScrapePhase returns the offset into each interval (counted from the
	// Unix epoch) at which the job's scrapes have landed.
	ScrapePhase(ctx context.Context, job string, interval time.Duration) (time.Duration, error)
}

// ScrapePhase asks Prometheus for its active targets (/api/v1/targets)
// and returns the offset into each interval just after the job's scrapes
// end: a scrape starts at lastScrape and its samples are queryable once it
// has taken lastScrapeDuration. With several scrape targets in the job the
// offset is the one that minimises the mean wait from a scrape's end to
// the next evaluation (see BestPhase).
func (s *Prometheus) ScrapePhase(ctx context.Context, job string, interval time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	res, err := s.api.Targets(ctx)
	if err != nil {
		return 0, fmt.Errorf("source %q: targets: %w", s.Name, err)
	}
	var ends []time.Time
	for _, t := range res.Active {
		if string(t.Labels[model.JobLabel]) != job || t.Health != v1.HealthGood || t.LastScrape.IsZero() {
			continue
		}
		d := time.Duration(t.LastScrapeDuration * float64(time.Second))
		ends = append(ends, t.LastScrape.Add(d))
	}
	if len(ends) == 0 {
		return 0, fmt.Errorf("source %q: no healthy scrape target of job %q", s.Name, job)
	}
	return BestPhase(ends, interval), nil
}

// BestPhase returns the offset into each interval, counted from the Unix
// epoch, at which an evaluation every interval waits least on average for
// scrapes that ended at the given times (each repeating every interval):
// the end phases are sorted, and evaluating at phase p_j makes scrape i
// wait (p_j - p_i) mod interval.
func BestPhase(ends []time.Time, interval time.Duration) time.Duration {
	if interval <= 0 || len(ends) == 0 {
		return 0
	}
	iv := int64(interval)
	ph := make([]int64, len(ends))
	for i, t := range ends {
		ph[i] = ((t.UnixNano() % iv) + iv) % iv
	}
	sort.Slice(ph, func(a, b int) bool { return ph[a] < ph[b] })
	var sum int64
	for _, p := range ph {
		sum += p
	}
	n := int64(len(ph))
	best, bestWait := ph[0], int64(-1)
	for j, p := range ph {
		// Σ_i<=j (p - p_i) + Σ_i>j (p - p_i + iv)
		wait := n*p - sum + iv*(n-1-int64(j))
		if bestWait < 0 || wait < bestWait {
			best, bestWait = p, wait
		}
	}
	return time.Duration(best)
}

// NextAligned returns the first instant after now whose offset into the
// interval (from the Unix epoch) is phase.
func NextAligned(now time.Time, interval, phase time.Duration) time.Time {
	iv := int64(interval)
	n := now.UnixNano()
	base := n - ((n%iv)+iv)%iv
	t := base + int64(phase)%iv
	for t <= n {
		t += iv
	}
	return time.Unix(0, t)
}
