package zenlayer

import (
	"context"
	"sync"
	"time"

	"github.com/specscale/specscale/providers"
)

// How long, and how many, intent tokens the adapter remembers. Zenlayer's
// write calls take no client token, so this memory — lost on restart — is
// the only place a token's first answer (its order number) survives.
const (
	tokenMemoryTTL  = 24 * time.Hour
	tokenMemorySize = 10000
)

type tokenRecord struct {
	params string
	result providers.Result
	at     time.Time
}

// tokenMemory remembers the result of each accepted Apply by token. It is
// safe for concurrent use.
type tokenMemory struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[string]tokenRecord
}

func newTokenMemory(ttl time.Duration, max int) *tokenMemory {
	return &tokenMemory{ttl: ttl, max: max, m: map[string]tokenRecord{}}
}

// get returns the record of token if it is younger than the TTL.
func (tm *tokenMemory) get(token string, now time.Time) (tokenRecord, bool) {
	if token == "" {
		return tokenRecord{}, false
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	rec, ok := tm.m[token]
	if !ok || now.Sub(rec.at) > tm.ttl {
		return tokenRecord{}, false
	}
	return rec, true
}

// put records token's result, dropping expired records and, past max, the
// oldest ones.
func (tm *tokenMemory) put(token, params string, res providers.Result, now time.Time) {
	if token == "" {
		return
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.m[token] = tokenRecord{params: params, result: res, at: now}
	if len(tm.m) <= tm.max {
		return
	}
	for k, rec := range tm.m {
		if now.Sub(rec.at) > tm.ttl {
			delete(tm.m, k)
		}
	}
	for len(tm.m) > tm.max {
		oldest, first := "", true
		var at time.Time
		for k, rec := range tm.m {
			if first || rec.at.Before(at) {
				oldest, at, first = k, rec.at, false
			}
		}
		delete(tm.m, oldest)
	}
}

// targetLocks serializes Apply per target, so that two deliveries of one
// intent racing each other cannot both read "not yet" and both write. A
// waiter gives up with its context.
type targetLocks struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func newTargetLocks() *targetLocks { return &targetLocks{m: map[string]chan struct{}{}} }

// lock takes key's lock; the caller calls the returned func to release it.
func (l *targetLocks) lock(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	ch, ok := l.m[key]
	if !ok {
		ch = make(chan struct{}, 1)
		l.m[key] = ch
	}
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
