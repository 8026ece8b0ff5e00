package scaler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Lease is one campaign for one key of the leases bucket (see fleet.go for
// the timings). Its goroutine acquires the key when it is free, renews it,
// and releases it when the lease is stopped. A tenure ends early, at once,
// when a renewal finds the key someone else's or cannot be confirmed in time.
//
// Held says whether this replica may act under the lease now; Do runs work
// for as long as it may.
type Lease struct {
	f        *Fleet
	key      string
	balanced bool
	cancel   context.CancelFunc
	done     chan struct{} // closed when the campaign has ended
	wake     chan struct{} // the watcher saw the key go
	shed     chan struct{} // the fleet asks for the lease back
	expired  chan struct{} // the validity timer ended the tenure
	settled  chan struct{} // closed once the first race is decided
	settle   sync.Once

	mu         sync.Mutex
	hctx       context.Context // non-nil while held; cancelled when the tenure ends
	hcancel    context.CancelFunc
	validUntil time.Time
	since      time.Time
	tenure     uint64 // the revision that began the current or last tenure
	gen        uint64
	timer      *time.Timer
	active     int           // Do callbacks running under hctx
	idle       chan struct{} // closed when active drops to 0
	changed    chan struct{} // closed and replaced on every gain and loss
}

// Key is the lease's key in the bucket.
func (l *Lease) Key() string { return l.key }

// Held reports whether this replica holds the lease now.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hctx != nil && l.hctx.Err() == nil && time.Now().Before(l.validUntil)
}

// Tenure identifies the current or last tenure: it changes every time this
// replica acquires the lease anew, so work under the lease can tell that
// another replica may have acted in between.
func (l *Lease) Tenure() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tenure
}

// Settled is closed once this replica's first race for the lease is
// decided: it holds the lease, or found it held by another.
func (l *Lease) Settled() <-chan struct{} { return l.settled }

func (l *Lease) markSettled() { l.settle.Do(func() { close(l.settled) }) }

// validity returns until when the current tenure is valid, and false when
// there is none.
func (l *Lease) validity() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validUntil, l.hctx != nil
}

func (l *Lease) heldSince() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.since, l.hctx != nil
}

// Do runs fn whenever this replica holds the lease, with a context that
// ends the moment the tenure ends or ctx does, and waits for the next
// tenure when fn returns. Do returns when ctx ends and fn has returned. A
// release waits for fn to return before it hands the lease over.
func (l *Lease) Do(ctx context.Context, fn func(context.Context)) {
	for {
		hctx, changed := l.enter()
		if hctx == nil {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return
			}
		}
		rctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(hctx, cancel)
		fn(rctx)
		stop()
		cancel()
		l.exit()
		select {
		case <-hctx.Done():
		case <-ctx.Done():
			return
		}
	}
}

// Stop ends the campaign: it releases the lease if held, once every Do
// callback has returned, and waits.
func (l *Lease) Stop() {
	l.cancel()
	<-l.done
	l.f.forget(l)
}

func (l *Lease) enter() (context.Context, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hctx != nil && l.hctx.Err() == nil {
		l.active++
		return l.hctx, nil
	}
	return nil, l.changed
}

func (l *Lease) exit() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	if l.active == 0 && l.idle != nil {
		close(l.idle)
		l.idle = nil
	}
}

// quiesce waits until no Do callback runs under the lease.
func (l *Lease) quiesce() {
	l.mu.Lock()
	if l.active == 0 {
		l.mu.Unlock()
		return
	}
	if l.idle == nil {
		l.idle = make(chan struct{})
	}
	ch := l.idle
	l.mu.Unlock()
	<-ch
}

// broadcast wakes Do callers waiting for a change. l.mu must be held.
func (l *Lease) broadcast() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// gain begins a tenure valid until valid; from now on Do runs.
func (l *Lease) gain(rev uint64, valid time.Time) {
	select {
	case <-l.expired:
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hctx, l.hcancel = context.WithCancel(context.Background())
	l.validUntil, l.since, l.tenure = valid, time.Now(), rev
	l.gen++
	gen := l.gen
	l.timer = time.AfterFunc(time.Until(valid), func() { l.expire(gen) })
	l.broadcast()
}

// expire runs on the validity timer: the holder could not confirm a
// renewal in time, so it stops acting now, whatever the campaign is doing.
func (l *Lease) expire(gen uint64) {
	l.mu.Lock()
	if gen != l.gen || l.hctx == nil {
		l.mu.Unlock()
		return
	}
	l.revoke()
	l.mu.Unlock()
	select {
	case l.expired <- struct{}{}:
	default:
	}
}

// extend moves the validity to valid after a confirmed renewal. It reports
// false when the validity timer has already ended the tenure.
func (l *Lease) extend(valid time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hctx == nil || !l.timer.Stop() {
		return false
	}
	l.validUntil = valid
	l.timer.Reset(time.Until(valid))
	return true
}

// revoke cancels the tenure's context. l.mu must be held.
func (l *Lease) revoke() {
	if l.hctx == nil {
		return
	}
	l.hcancel()
	l.hctx, l.hcancel = nil, nil
	l.broadcast()
}

// end ends the tenure: Do callbacks are cancelled and waited for, then the
// change is reported.
func (l *Lease) end(transition, reason string) {
	l.mu.Lock()
	l.revoke()
	if l.timer != nil {
		l.timer.Stop()
	}
	tenure := l.tenure
	l.mu.Unlock()
	l.quiesce()
	l.report(false, transition, reason, tenure)
	l.announce(transition, reason, tenure)
}

// report tells OnChange, the metrics and the log of a gain or a loss.
func (l *Lease) report(held bool, transition, reason string, tenure uint64) {
	f := l.f
	if f.OnChange != nil {
		f.OnChange(l.key, held)
	}
	if f.Metrics != nil {
		v := 0.0
		if held {
			v = 1
		}
		f.Metrics.Held.WithLabelValues(l.key).Set(v)
		f.Metrics.Transitions.WithLabelValues(leaseKind(l.key), transition).Inc()
	}
	log := f.Log.With(zap.String("lease", l.key), zap.Uint64("tenure", tenure))
	if transition == "lost" {
		log.Warn("lease lost: stopped acting under it", zap.String("reason", reason))
	} else {
		log.Info("lease "+transition, zap.String("reason", reason))
	}
}

// announce publishes a gain or a loss on the audit stream.
func (l *Lease) announce(transition, reason string, tenure uint64) {
	f := l.f
	if f.Events == nil {
		return
	}
	e := Event{Type: EventLeaseAcquired, Reason: fmt.Sprintf("%s (tenure %d): %s", l.key, tenure, reason)}
	switch transition {
	case "lost":
		e.Type = EventLeaseLost
	case "released", "handed_back":
		e.Type = EventLeaseReleased
	}
	if p, ok := cutPolicyLease(l.key); ok {
		e.Policy = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.t.renew)
	defer cancel()
	_ = f.Events.Publish(ctx, e)
}

func cutPolicyLease(key string) (string, bool) {
	if len(key) > len(policyLeasePrefix) && key[:len(policyLeasePrefix)] == policyLeasePrefix {
		return key[len(policyLeasePrefix):], true
	}
	return "", false
}

// run is the campaign: acquire, hold, and again, until ctx ends.
func (l *Lease) run(ctx context.Context) {
	defer close(l.done)
	for {
		rev, sent, ok := l.acquire(ctx)
		if !ok {
			return
		}
		pause := l.hold(ctx, rev, sent)
		if sleepCtx(ctx, pause) != nil {
			return
		}
	}
}

// jitter spreads d over ±20 %, so that replicas do not retry in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// acquire races Create until it wins or ctx ends. It returns the revision
// and when the winning request was sent.
func (l *Lease) acquire(ctx context.Context) (uint64, time.Time, bool) {
	t := l.f.t
	for {
		if d := l.f.acquireDelay(l); d > 0 {
			timer := time.NewTimer(jitter(d))
			select {
			case <-ctx.Done():
				timer.Stop()
				return 0, time.Time{}, false
			case <-l.wake:
				// The key went meanwhile: look again, for a dead
				// holder's lease is raced for at once.
				timer.Stop()
				continue
			case <-timer.C:
			}
		}
		sent := time.Now()
		actx, cancel := context.WithTimeout(ctx, t.renew)
		rev, err := l.f.KV.Create(actx, l.key, l.f.value)
		cancel()
		if err == nil {
			return rev, sent, true
		}
		if ctx.Err() != nil {
			return 0, time.Time{}, false
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			l.markSettled()
		} else {
			// An unconfirmed Create may have landed: then the key is ours
			// but unknown to us, and it expires unrenewed within K.
			l.f.Log.Debug("cannot create the lease key", zap.String("lease", l.key), zap.Error(err))
		}
		timer := time.NewTimer(jitter(t.renew))
		select {
		case <-ctx.Done():
			timer.Stop()
			return 0, time.Time{}, false
		case <-l.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// hold renews the lease until the tenure ends, and returns how long to wait
// before campaigning again.
func (l *Lease) hold(ctx context.Context, rev uint64, sent time.Time) time.Duration {
	t := l.f.t
	valid := sent.Add(t.valid)
	if !time.Now().Before(valid) {
		// Confirmed too late to act on: hand it straight back.
		l.release(rev)
		return 0
	}
	const why = "won the race for a free lease"
	l.report(true, "acquired", why, rev)
	l.gain(rev, valid)
	renew := time.NewTimer(t.renew)
	defer renew.Stop()
	l.markSettled()
	l.announce("acquired", why, rev)
	for {
		select {
		case <-ctx.Done():
			l.end("released", "shutting down")
			l.release(rev)
			return 0
		case <-l.shed:
			l.end("handed_back", "holding two policies more than the least loaded replica")
			l.release(rev)
			return t.key
		case <-l.expired:
			l.end("lost", fmt.Sprintf("no renewal confirmed within %s", t.valid))
			l.release(rev) // if the key is still ours, free it at once
			return 0
		case <-renew.C:
		}
		current, ok := l.validity()
		if !ok {
			continue // the validity timer has just ended the tenure
		}
		// A renewal not confirmed within the current validity is too late
		// anyway: wait no longer, so that the tenure's end is reported
		// when it happens.
		sent := time.Now()
		valid := sent.Add(t.valid)
		rctx, cancel := context.WithDeadline(ctx, minTime(current, sent.Add(t.renew)))
		nrev, err := l.f.KV.Update(rctx, l.key, l.f.value, rev)
		cancel()
		switch {
		case err == nil:
			rev = nrev
			if !l.extend(valid) {
				l.end("lost", "renewal confirmed too late")
				l.release(rev)
				return 0
			}
			renew.Reset(t.renew)
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			l.end("lost", "the key is no longer ours: "+err.Error())
			l.release(rev) // an earlier renewal of ours may have landed unconfirmed
			return 0
		case ctx.Err() != nil:
			// Stopping: the next loop releases.
		default:
			l.f.Log.Debug("lease renewal failed; retrying", zap.String("lease", l.key), zap.Error(err))
			renew.Reset(t.renew / 4)
		}
	}
}

// release deletes the key while it is still this process's — at revision
// rev, or at a later one written by a renewal confirmed too late — so that
// another replica takes over at once instead of waiting for it to expire.
// Call it only once nothing runs under the lease.
func (l *Lease) release(rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), min(l.f.t.renew, leaseReleaseWindow))
	defer cancel()
	err := l.f.KV.Delete(ctx, l.key, jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		var e jetstream.KeyValueEntry
		e, err = l.f.KV.Get(ctx, l.key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			err = nil
		case err == nil && bytes.Equal(e.Value(), l.f.value):
			err = l.f.KV.Delete(ctx, l.key, jetstream.LastRevision(e.Revision()))
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			err = nil // someone else's by now
		}
	}
	if err != nil {
		l.f.Log.Debug("cannot release the lease; it expires by itself", zap.String("lease", l.key), zap.Error(err))
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
