package scaler

// Several replicas of the daemon on one NATS cluster.
//
// Executors need nothing from the fleet: they share the durable consumer, and
// the compare-and-set on each target's state keeps them apart. Evaluation
// does: each policy must be evaluated by one replica at a time, or two
// replicas could decide different things for one target in the same
// interval. Leases see to that, with no consensus of our own: NATS' is
// enough.
//
// A lease is a key in the KV bucket specscale_leases, whose bucket-wide TTL
// makes it expire once its holder stops renewing it. With T the configured
// fleet.lease_ttl:
//
//	key TTL    K = 3/4·T  the key disappears K after its last write
//	renewal    every K/3  Update(key, value, revision): a compare-and-set
//	validity   4/5·K      counted from the *sending* of the last confirmed write
//
// The holder acts only while its lease is valid. The server stamps a write no
// earlier than it was sent, so validity ends at least K/5 before the key can
// expire: slack for the holder to stop and for two clocks' rates. A revision
// mismatch on renewal — the key is someone else's — ends the tenure at once,
// and so does a renewal confirmed too late. A dead holder's key expires at
// most K after it died; the server marks the expiry (the bucket's limit
// markers) within its ¼-second expiry tick, every replica watching the bucket
// races Create, and one wins: a handover within T, the last quarter of it
// left for the expiry tick and the race. A replica that shuts down
// deletes its keys (Delete with the last revision), and the others race at
// once.
//
// Leases are held in memory storage: they need not survive a restart of the
// whole NATS cluster, after which every lease is void anyway.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Names in the leases bucket.
const (
	LeaseBucket = "specscale_leases"
	// LeaderLease is the fleet-wide lease: one replica at a time holds it,
	// for work that must happen once across the fleet and belongs to no
	// policy.
	LeaderLease        = "leader"
	policyLeasePrefix  = "policy."
	memberLeasePrefix  = "member."
	leaseReleaseWindow = 5 * time.Second
)

// PolicyLease is the key of a policy's lease. Policy names are valid KV key
// tokens (lower-case letters, digits, '-' and '_').
func PolicyLease(policy string) string { return policyLeasePrefix + policy }

// leaseTimings derive from the configured lease TTL; see the comment at the
// top of this file.
type leaseTimings struct {
	ttl   time.Duration // T: a dead holder's lease is taken over within it
	key   time.Duration // K: the bucket's TTL
	renew time.Duration // how often the holder renews
	valid time.Duration // how long after sending a write the holder may act
}

func timingsFor(ttl time.Duration) leaseTimings {
	key := ttl * 3 / 4
	return leaseTimings{ttl: ttl, key: key, renew: key / 3, valid: key * 4 / 5}
}

// OpenLeases creates or updates the leases bucket for lease TTL ttl, and
// returns the key TTL in force.
//
// It never lowers the key TTL of an existing bucket: a replica still
// running with a longer lease TTL trusts its tenures for longer, and a
// shorter key TTL would let another replica take its leases while it still
// acts. A longer key TTL than this replica's is safe for it (it acts for
// less than the key lives) but slows failover to the bucket's; lowering
// fleet.lease_ttl therefore needs every replica stopped, or the bucket
// deleted while none runs (docs/operations.md).
func OpenLeases(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (jetstream.KeyValue, time.Duration, error) {
	keyTTL := timingsFor(ttl).key
	if kv, err := js.KeyValue(ctx, LeaseBucket); err == nil {
		st, err := kv.Status(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("read kv %s: %w", LeaseBucket, err)
		}
		keyTTL = max(keyTTL, st.TTL())
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, 0, fmt.Errorf("read kv %s: %w", LeaseBucket, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "specscale leases: which replica evaluates each policy, and who leads",
		History:     1,
		TTL:         keyTTL,
		// An expiry leaves a marker, so that watchers see a dead holder's
		// lease go.
		LimitMarkerTTL: max(keyTTL, time.Second),
		Storage:        jetstream.MemoryStorage,
		Replicas:       max(replicas, 1),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("create kv %s: %w", LeaseBucket, err)
	}
	return kv, keyTTL, nil
}

// FleetMetrics are the fleet's Prometheus metrics.
type FleetMetrics struct {
	Held        *prometheus.GaugeVec
	Transitions *prometheus.CounterVec
	Replicas    prometheus.Gauge
}

// NewFleetMetrics creates and registers the fleet's metrics.
func NewFleetMetrics(reg prometheus.Registerer) *FleetMetrics {
	m := &FleetMetrics{
		Held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "specscale_lease_held", Help: "1 while this replica holds the lease (policy.<name> or leader), 0 while it campaigns for it.",
		}, []string{"lease"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specscale_lease_transitions_total", Help: "Leases this replica acquired, released, handed back to balance the fleet, or lost, by kind (policy or leader).",
		}, []string{"kind", "transition"}),
		Replicas: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "specscale_fleet_replicas", Help: "Replicas this replica sees in the fleet, itself included.",
		}),
	}
	reg.MustRegister(m.Held, m.Transitions, m.Replicas)
	return m
}

// Fleet is this replica's membership of the fleet. It keeps a presence key,
// watches the leases bucket, and runs the campaigns: the leader lease from
// Start, and any lease asked for with Campaign (the engine asks for one per
// policy).
//
// Policy leases are spread: a replica holding more of them than the least
// loaded replica lets the others race for a free one first, and one holding
// two more than the least loaded hands one back each renewal interval.
//
// Start it before anything campaigns, and Stop it after: Stop releases every
// lease still held, once whatever ran under it has returned.
type Fleet struct {
	KV      jetstream.KeyValue
	Replica string
	// TTL is fleet.lease_ttl.
	TTL time.Duration
	Log *zap.Logger
	// Events, when set, receives lease_acquired, lease_released and
	// lease_lost events.
	Events *Events
	// Metrics may be nil.
	Metrics *FleetMetrics
	// OnChange, when set, is told of every lease this replica gains — before
	// anything runs under it — and gives up — after everything that ran
	// under it has returned. It is called from the lease's campaign and must
	// not block.
	OnChange func(key string, held bool)

	t      leaseTimings
	value  []byte
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	leader *Lease
	// leaving is closed by Leave; left once the presence key is gone.
	leaving, left chan struct{}
	leave         sync.Once

	// mu guards what follows. Lock order: Fleet.mu before Lease.mu.
	mu      sync.Mutex
	leases  map[string]*Lease
	members map[string]time.Time // when each was last seen, by key token of the replica ID
	holders map[string]string    // policy lease → key token of its holder
	expired map[string]bool      // leases whose key last went by expiry: their holder died
}

// leaseValue is what a lease key holds.
type leaseValue struct {
	Replica string `json:"replica"`
	// Since is when this process joined the fleet.
	Since time.Time `json:"since"`
	// Nonce tells this process from an earlier one with the same replica ID.
	Nonce string `json:"nonce"`
}

// Start starts watching the bucket, the presence key and the leader
// campaign. Everything runs until Stop.
func (f *Fleet) Start(ctx context.Context) {
	f.t = timingsFor(f.TTL)
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	f.value, _ = json.Marshal(leaseValue{Replica: f.Replica, Since: time.Now().UTC(), Nonce: hex.EncodeToString(nonce)})
	f.ctx, f.cancel = context.WithCancel(ctx)
	f.leases = map[string]*Lease{}
	f.members = map[string]time.Time{}
	f.holders = map[string]string{}
	f.expired = map[string]bool{}
	f.leaving, f.left = make(chan struct{}), make(chan struct{})
	f.wg.Add(3)
	go func() { defer f.wg.Done(); f.watch(f.ctx) }()
	go func() { defer f.wg.Done(); f.presence(f.ctx) }()
	go func() { defer f.wg.Done(); f.balance(f.ctx) }()
	f.leader = f.Campaign(LeaderLease, false)
}

// Leave takes this replica out of the others' count, so that they stop
// leaving free leases to it: call it first when shutting down, before the
// leases are released. It waits until the presence key is deleted, or
// could not be.
func (f *Fleet) Leave() {
	f.leave.Do(func() { close(f.leaving) })
	<-f.left
}

// Stop releases every lease, in parallel, each once whatever runs under it
// has returned, and then stops the fleet's goroutines.
func (f *Fleet) Stop() {
	f.mu.Lock()
	ls := make([]*Lease, 0, len(f.leases))
	for _, l := range f.leases {
		ls = append(ls, l)
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() { defer wg.Done(); l.Stop() }()
	}
	wg.Wait()
	f.cancel()
	f.wg.Wait()
}

// Leader is the fleet-wide lease.
//
// It is the hook for work that must happen once across the fleet and belongs
// to no single policy (a timer that reverts boosts, say): run it under
// Leader().Do, whose context ends the moment this replica stops leading, or
// check Leader().Held() right before acting. Work that belongs to one policy
// (its schedule windows, its boosts) should run where the policy is
// evaluated instead: see Engine.Leads.
func (f *Fleet) Leader() *Lease { return f.leader }

// Campaign starts campaigning for key, or returns the campaign already
// running for it. A balanced lease counts toward this replica's share of
// the fleet's work. Stop the lease to release it and end the campaign.
func (f *Fleet) Campaign(key string, balanced bool) *Lease {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.leases[key]; ok {
		return l
	}
	ctx, cancel := context.WithCancel(f.ctx)
	l := &Lease{f: f, key: key, balanced: balanced, cancel: cancel, done: make(chan struct{}),
		wake: make(chan struct{}, 1), shed: make(chan struct{}, 1), expired: make(chan struct{}, 1), changed: make(chan struct{}),
		settled: make(chan struct{})}
	f.leases[key] = l
	if f.Metrics != nil {
		f.Metrics.Held.WithLabelValues(key).Set(0)
	}
	go l.run(ctx)
	return l
}

func (f *Fleet) forget(l *Lease) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leases[l.key] == l {
		delete(f.leases, l.key)
		if f.Metrics != nil {
			f.Metrics.Held.DeleteLabelValues(l.key)
		}
	}
}

// Replicas is how many replicas this one sees, itself included.
func (f *Fleet) Replicas() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return max(len(f.live()), 1)
}

// live returns the members whose presence was renewed lately: a replica
// that stopped renewing is dead or cut off, and gets no lease handed to
// it. f.mu must be held.
func (f *Fleet) live() []string {
	var out []string
	for m, seen := range f.members {
		if time.Since(seen) < 2*f.t.renew {
			out = append(out, m)
		}
	}
	return out
}

// load returns how many balanced leases this replica holds, and how many
// the least loaded replica it knows of holds.
func (f *Fleet) load() (mine, least int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.leases {
		if l.balanced && l.Held() {
			mine++
		}
	}
	self := keyToken(f.Replica)
	counts := map[string]int{}
	for _, m := range f.live() {
		if m != self {
			counts[m] = 0
		}
	}
	for _, h := range f.holders {
		if _, ok := counts[h]; ok {
			counts[h]++
		}
	}
	least = mine
	for _, n := range counts {
		least = min(least, n)
	}
	return mine, least
}

// acquireDelay is how long this replica waits before it races for a free
// lease: one that holds more than another lets that one go first. A lease
// whose holder died is raced for at once instead (the handover must happen
// within the lease TTL); the fleet balances itself afterwards.
func (f *Fleet) acquireDelay(l *Lease) time.Duration {
	f.mu.Lock()
	urgent := f.expired[l.key]
	f.mu.Unlock()
	if !l.balanced || urgent {
		return 0
	}
	if mine, least := f.load(); mine > least {
		return f.t.renew
	}
	return 0
}

// balance hands back one balanced lease per renewal interval while this
// replica holds two or more than the least loaded: the newest, which has
// the least evaluation memory to lose.
func (f *Fleet) balance(ctx context.Context) {
	tick := time.NewTicker(f.t.renew)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if mine, least := f.load(); mine < least+2 {
			continue
		}
		var newest *Lease
		var newestAt time.Time
		f.mu.Lock()
		for _, l := range f.leases {
			if !l.balanced {
				continue
			}
			if at, ok := l.heldSince(); ok && (newest == nil || at.After(newestAt)) {
				newest, newestAt = l, at
			}
		}
		f.mu.Unlock()
		if newest != nil {
			select {
			case newest.shed <- struct{}{}:
			default:
			}
		}
	}
}

// presence keeps member.<replica> in the bucket while the fleet runs, so
// that every replica knows how many share the work.
func (f *Fleet) presence(ctx context.Context) {
	defer close(f.left)
	key := memberLeasePrefix + keyToken(f.Replica)
	tick := time.NewTicker(f.t.renew)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, f.t.renew)
		_, err := f.KV.Put(pctx, key, f.value)
		cancel()
		if err != nil && ctx.Err() == nil {
			f.Log.Debug("cannot renew the presence key", zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-f.leaving:
		case <-tick.C:
			continue
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(f.t.renew, leaseReleaseWindow))
		_ = f.KV.Delete(dctx, key)
		cancel()
		return
	}
}

// watch follows the bucket: members come and go, and a lease this replica
// campaigns for that is deleted or expires wakes its campaign at once.
func (f *Fleet) watch(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := f.KV.WatchAll(ctx)
		if err != nil {
			f.Log.Warn("cannot watch the leases bucket; retrying", zap.Error(err))
			_ = sleepCtx(ctx, f.t.renew)
			continue
		}
		f.follow(ctx, w)
		_ = w.Stop()
	}
}

func (f *Fleet) follow(ctx context.Context, w jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				f.observe(e.Key(), e.Value(), e.Operation() != jetstream.KeyValuePut, e.Operation() == jetstream.KeyValuePurge)
			}
		}
	}
}

// observe folds one entry of the bucket in: gone when it was deleted or
// purged, expired when its holder stopped renewing it.
func (f *Fleet) observe(key string, value []byte, gone, expired bool) {
	f.mu.Lock()
	if m, ok := strings.CutPrefix(key, memberLeasePrefix); ok {
		if gone {
			delete(f.members, m)
		} else {
			f.members[m] = time.Now()
		}
		n := len(f.live())
		f.mu.Unlock()
		if f.Metrics != nil {
			f.Metrics.Replicas.Set(float64(n))
		}
		return
	}
	if strings.HasPrefix(key, policyLeasePrefix) {
		var v leaseValue
		if !gone && json.Unmarshal(value, &v) == nil {
			f.holders[key] = keyToken(v.Replica)
		} else {
			delete(f.holders, key)
		}
	}
	if gone && expired {
		f.expired[key] = true
	} else {
		delete(f.expired, key)
	}
	l := f.leases[key]
	f.mu.Unlock()
	if l != nil && gone {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// keyToken makes s usable as one KV key token.
func keyToken(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '=':
			return r
		}
		return '_'
	}, s)
}

func leaseKind(key string) string {
	if strings.HasPrefix(key, policyLeasePrefix) {
		return "policy"
	}
	return key
}
