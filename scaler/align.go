package scaler

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/scaler/source"
)

// alignMargin is how long after a scrape's end the evaluation runs: the
// scrape's duration is measured before its samples are appended, and the
// append of a large scrape takes a few milliseconds.
const alignMargin = 100 * time.Millisecond

// aligner times a polled policy's evaluations to follow the scrapes of its
// metric.scrape_job. Prometheus scrapes each target at a fixed offset into
// its interval; an evaluation at an unrelated offset makes each change
// wait up to a whole extra interval after the scrape that saw it.
// The phase is learned from the source at start and again every relearn;
// while it cannot be learned, evaluations keep the plain interval.
type aligner struct {
	phaser   source.Phaser
	job      string
	interval time.Duration
	relearn  time.Duration
	log      *zap.Logger

	phase     time.Duration
	known     bool
	failing   bool
	learnedAt time.Time
}

func newAligner(ph source.Phaser, job string, interval time.Duration, log *zap.Logger) *aligner {
	relearn := 10 * interval
	if relearn < time.Minute {
		relearn = time.Minute
	}
	return &aligner{phaser: ph, job: job, interval: interval, relearn: relearn, log: log}
}

// wait returns how long to wait from now until the next evaluation.
func (a *aligner) wait(ctx context.Context, now time.Time) time.Duration {
	if a.learnedAt.IsZero() || now.Sub(a.learnedAt) >= a.relearn {
		a.learn(ctx, now)
	}
	if !a.known {
		return a.interval
	}
	margin := alignMargin
	if margin > a.interval/4 {
		margin = a.interval / 4
	}
	next := source.NextAligned(now, a.interval, a.phase+margin)
	return next.Sub(now)
}

func (a *aligner) learn(ctx context.Context, now time.Time) {
	a.learnedAt = now
	phase, err := a.phaser.ScrapePhase(ctx, a.job, a.interval)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if !a.failing {
			a.log.Warn("cannot learn the scrape phase; evaluating on the plain interval until it can be",
				zap.String("job", a.job), zap.Bool("keeping_last_phase", a.known), zap.Error(err))
		}
		a.failing = true
		return
	}
	if !a.known || a.failing || phase != a.phase {
		a.log.Info("evaluations follow the scrapes", zap.String("job", a.job),
			zap.Duration("phase", phase), zap.Duration("interval", a.interval))
	}
	a.phase, a.known, a.failing = phase, true, false
}
