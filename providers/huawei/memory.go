package huawei

import (
	"context"
	"sync"
	"time"

	"github.com/specscale/specscale/providers"
)

// AAD takes no client token, so the adapter keeps the idempotency it can in
// process memory: the result of each token (a second Apply with the same
// token answers from here, without a call) and the orders accepted but not
// yet visible in the instance's spec (an Apply for the same value while one
// is pending does not order again). Memory is lost on restart; Apply then
// relies on reading the spec first, which catches every change already in
// effect but not an order still unpaid or processing.
const (
	tokenTTL   = 24 * time.Hour
	pendingTTL = time.Hour
	maxTokens  = 10000
)

type tokenEntry struct {
	params string
	result providers.Result
	at     time.Time
}

type pendingOrder struct {
	value   float64
	orderID string
	at      time.Time
}

// memory is safe for concurrent use.
type memory struct {
	mu      sync.Mutex
	tokens  map[string]tokenEntry
	order   []string // tokens, oldest first, for eviction
	pending map[string]pendingOrder
}

func newMemory() *memory {
	return &memory{tokens: map[string]tokenEntry{}, pending: map[string]pendingOrder{}}
}

// result returns the remembered result of token. mismatch is true when the
// token was used for different parameters.
func (m *memory) result(token, params string, now time.Time) (res providers.Result, found, mismatch bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.tokens[token]
	if !ok || now.Sub(e.at) > tokenTTL {
		return providers.Result{}, false, false
	}
	if e.params != params {
		return providers.Result{}, true, true
	}
	return e.result, true, false
}

func (m *memory) remember(token, params string, res providers.Result, now time.Time) {
	if token == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tokens[token]; !ok {
		m.order = append(m.order, token)
	}
	m.tokens[token] = tokenEntry{params: params, result: res, at: now}
	for len(m.order) > 0 {
		oldest := m.order[0]
		e := m.tokens[oldest]
		if len(m.tokens) <= maxTokens && now.Sub(e.at) <= tokenTTL {
			break
		}
		delete(m.tokens, oldest)
		m.order = m.order[1:]
	}
}

// pendingFor returns the order pending for a target, dropping it once the
// spec shows its value (current) or it is older than pendingTTL.
func (m *memory) pendingFor(key string, current float64, now time.Time) (pendingOrder, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[key]
	if !ok {
		return pendingOrder{}, false
	}
	if current >= p.value || now.Sub(p.at) > pendingTTL {
		delete(m.pending, key)
		return pendingOrder{}, false
	}
	return p, true
}

func (m *memory) setPending(key string, p pendingOrder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending[key] = p
}

// instanceLocks serialises Applies to one instance, so that two Applies
// with the same token cannot both read the old spec and both order.
type instanceLocks struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
}

// lock waits for the instance's lock or for ctx. The caller calls unlock.
func (l *instanceLocks) lock(ctx context.Context, instance string) (unlock func(), err error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]chan struct{}{}
	}
	ch, ok := l.locks[instance]
	if !ok {
		ch = make(chan struct{}, 1)
		l.locks[instance] = ch
	}
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
