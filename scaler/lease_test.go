package scaler

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

const testLeaseTTL = 2 * time.Second

// checkLeaks checks for leaked goroutines after every cleanup of the test,
// the servers' shutdown included.
func checkLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func startTestServer(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// leaseLog records the OnChange calls of one or more fleets.
type leaseLog struct {
	mu      sync.Mutex
	changes []leaseChange
}

type leaseChange struct {
	replica, key string
	held         bool
	at           time.Time
}

func (ll *leaseLog) observer(replica string) func(string, bool) {
	return func(key string, held bool) {
		ll.mu.Lock()
		defer ll.mu.Unlock()
		ll.changes = append(ll.changes, leaseChange{replica, key, held, time.Now()})
	}
}

// holder returns who holds key according to the log, and since when.
func (ll *leaseLog) holder(key string) (string, time.Time) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	h, since := "", time.Time{}
	for _, c := range ll.changes {
		if c.key != key {
			continue
		}
		switch {
		case c.held:
			h, since = c.replica, c.at
		case c.replica == h:
			h, since = "", c.at
		}
	}
	return h, since
}

type testMember struct {
	nc    *nats.Conn
	fleet *Fleet
}

func joinFleet(t *testing.T, ns *server.Server, replica string, ll *leaseLog) *testMember {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, _, err := OpenLeases(ctx, js, 1, testLeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	f := &Fleet{KV: kv, Replica: replica, TTL: testLeaseTTL, Log: zaptest.NewLogger(t).With(), OnChange: ll.observer(replica)}
	f.Start(context.Background())
	return &testMember{nc: nc, fleet: f}
}

func (m *testMember) leave() {
	m.fleet.Stop()
	m.nc.Close()
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// One holder at a time; a release hands the lease over at once.
func TestLeaseReleaseHandsOverAtOnce(t *testing.T) {
	checkLeaks(t)
	ns := startTestServer(t)
	ll := &leaseLog{}
	a := joinFleet(t, ns, "a", ll)
	la := a.fleet.Campaign("policy.web", true)
	waitUntil(t, 5*time.Second, "a holds the lease", la.Held)
	b := joinFleet(t, ns, "b", ll)
	defer b.leave()
	lb := b.fleet.Campaign("policy.web", true)
	<-lb.Settled()
	time.Sleep(testLeaseTTL) // renewals keep it a's
	if lb.Held() || !la.Held() {
		t.Fatalf("after a lease TTL: a holds %v, b holds %v; want a only", la.Held(), lb.Held())
	}

	stopped := time.Now()
	a.leave()
	waitUntil(t, 5*time.Second, "b holds the lease", lb.Held)
	if d := time.Since(stopped); d > timingsFor(testLeaseTTL).renew {
		t.Errorf("b took over %s after a released the lease, want well within a renewal interval", d)
	}
}

// A holder that dies without releasing is replaced within one lease TTL,
// and stops acting on its own once it cannot renew.
func TestLeaseDeadHolderIsReplacedWithinTheTTL(t *testing.T) {
	checkLeaks(t)
	ns := startTestServer(t)
	ll := &leaseLog{}
	a := joinFleet(t, ns, "a", ll)
	waitUntil(t, 5*time.Second, "a leads", a.fleet.Leader().Held)
	b := joinFleet(t, ns, "b", ll)
	defer b.leave()

	acting := make(chan context.Context, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.fleet.Leader().Do(ctx, func(ctx context.Context) {
			acting <- ctx
			<-ctx.Done()
		})
	}()
	actx := <-acting
	// a's process freezes off the network: its connection closes and it
	// cannot reconnect, so neither renewals nor its release reach NATS.
	a.nc.Close()
	died := time.Now()
	select {
	case <-actx.Done():
		if d := time.Since(died); d > timingsFor(testLeaseTTL).valid {
			t.Errorf("a stopped acting %s after it last could renew, want within %s", d, timingsFor(testLeaseTTL).valid)
		}
	case <-time.After(testLeaseTTL):
		t.Fatal("a still acts under the lease a lease TTL after losing NATS")
	}
	waitUntil(t, 2*testLeaseTTL, "b leads", b.fleet.Leader().Held)
	if d := time.Since(died); d > testLeaseTTL {
		t.Errorf("b took over %s after a died, want within the lease TTL %s", d, testLeaseTTL)
	}
	cancel()
	<-done
	a.fleet.Stop()
	if h, _ := ll.holder(LeaderLease); h != "b" {
		t.Errorf("holder = %q, want b", h)
	}
}

// A renewal that finds the key someone else's ends the tenure at once.
func TestLeaseRevisionMismatchStopsAtOnce(t *testing.T) {
	checkLeaks(t)
	ns := startTestServer(t)
	ll := &leaseLog{}
	a := joinFleet(t, ns, "a", ll)
	defer a.leave()
	l := a.fleet.Campaign("policy.web", true)
	waitUntil(t, 5*time.Second, "a holds the lease", l.Held)
	acting := make(chan context.Context, 1)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(done)
		l.Do(ctx, func(ctx context.Context) {
			select {
			case acting <- ctx:
			default:
			}
			<-ctx.Done()
		})
	}()
	actx := <-acting
	// Something else overwrites the key (an operator, a split): the next
	// renewal's compare-and-set fails.
	if _, err := a.fleet.KV.Put(context.Background(), "policy.web", []byte(`{"replica":"intruder"}`)); err != nil {
		t.Fatal(err)
	}
	overwritten := time.Now()
	select {
	case <-actx.Done():
		if d := time.Since(overwritten); d > timingsFor(testLeaseTTL).renew+200*time.Millisecond {
			t.Errorf("stopped %s after the key changed hands, want by the next renewal", d)
		}
	case <-time.After(testLeaseTTL):
		t.Fatal("still acting a lease TTL after the key changed hands")
	}
	cancel()
	<-done
}

// Policy leases spread over the replicas.
func TestLeasesSpreadOverTheFleet(t *testing.T) {
	checkLeaks(t)
	ns := startTestServer(t)
	ll := &leaseLog{}
	var members []*testMember
	var leases [][]*Lease
	for i := range 3 {
		m := joinFleet(t, ns, fmt.Sprintf("r%d", i), ll)
		members = append(members, m)
		var ls []*Lease
		for p := range 7 {
			ls = append(ls, m.fleet.Campaign(PolicyLease(fmt.Sprintf("p%d", p)), true))
		}
		leases = append(leases, ls)
		if i == 0 {
			waitUntil(t, 5*time.Second, "r0 holds all", func() bool { return count(ls) == 7 })
		}
	}
	defer func() {
		for _, m := range members {
			m.leave()
		}
	}()
	waitUntil(t, 10*testLeaseTTL, "7 policies spread 3+2+2 in any order", func() bool {
		for _, ls := range leases {
			if n := count(ls); n < 2 || n > 3 {
				return false
			}
		}
		return true
	})
	for p := range 7 {
		n := 0
		for _, ls := range leases {
			if ls[p].Held() {
				n++
			}
		}
		if n != 1 {
			t.Errorf("p%d is held by %d replicas", p, n)
		}
	}
}

func count(ls []*Lease) int {
	n := 0
	for _, l := range ls {
		if l.Held() {
			n++
		}
	}
	return n
}

// A replica with a shorter lease TTL never shortens the bucket's: replicas
// with the longer one trust their tenures for longer.
func TestOpenLeasesNeverLowersTheKeyTTL(t *testing.T) {
	checkLeaks(t)
	ns := startTestServer(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		ttl, want time.Duration
	}{
		{10 * time.Second, 7500 * time.Millisecond},
		{5 * time.Second, 7500 * time.Millisecond}, // kept
		{20 * time.Second, 15 * time.Second},
	} {
		kv, got, err := OpenLeases(ctx, js, 1, tc.ttl)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want || st.TTL() != tc.want {
			t.Errorf("lease TTL %s: key TTL %s, bucket %s; want %s", tc.ttl, got, st.TTL(), tc.want)
		}
	}
}
