package scaler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// natsCluster is an in-process nats-server cluster with JetStream, every
// node on random ports.
type natsCluster struct {
	servers []*server.Server
	urls    []string
}

func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	routePorts := make([]int, n)
	var routes []*url.URL
	for i := range routePorts {
		routePorts[i] = freePort(t)
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[i])})
	}
	c := &natsCluster{}
	t.Cleanup(c.shutdown)
	for i := range n {
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
			JetStream: true, StoreDir: filepath.Join(t.TempDir(), "js"), JetStreamMaxMemory: 256 << 20, JetStreamMaxStore: 4 << 30,
			// NoAdvertise: clients keep to the URLs they were given, so a
			// test can cut one off by its dialer.
			Cluster: server.ClusterOpts{Name: "specscale-test", Host: "127.0.0.1", Port: routePorts[i], NoAdvertise: true},
			Routes:  routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats node %d not ready", i+1)
		}
		c.servers = append(c.servers, ns)
		c.urls = append(c.urls, ns.ClientURL())
	}
	// JetStream takes R3 streams once the nodes have found each other and
	// elected a meta leader.
	nc := c.connect(t)
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "an R3 stream on the cluster", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: n, Storage: jetstream.MemoryStorage})
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "PROBE"); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *natsCluster) url() string { return strings.Join(c.urls, ",") }

func (c *natsCluster) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.url(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func (c *natsCluster) kill(name string) {
	for _, ns := range c.servers {
		if ns.Name() == name {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	}
}

func (c *natsCluster) shutdown() {
	for _, ns := range c.servers {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// cutDialer dials NATS for one replica until it is cut: then every
// connection drops and no new one opens, as if the replica's host died.
type cutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (c *cutDialer) Dial(network, address string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errors.New("this replica is dead")
	}
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).Dial(network, address)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cutDialer) cutOff() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func (c *cutDialer) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = false
}

// mortal is one replica's view of the shared cloud; once dead, its calls
// fail, as a dead process makes none.
type mortal struct {
	providers.Provider
	dead atomic.Bool
}

var errDead = errors.New("the replica is dead")

func (m *mortal) Current(ctx context.Context, t providers.Target) (providers.Spec, error) {
	if m.dead.Load() {
		return providers.Spec{}, errDead
	}
	return m.Provider.Current(ctx, t)
}

func (m *mortal) Apply(ctx context.Context, c providers.Change) (providers.Result, error) {
	if m.dead.Load() {
		return providers.Result{}, errDead
	}
	return m.Provider.Apply(ctx, c)
}

// tenureLog records every lease gain and loss of every replica.
type tenureLog struct {
	mu      sync.Mutex
	changes []tenureChange
}

type tenureChange struct {
	replica, key string
	held         bool
	at           time.Time
}

func (tl *tenureLog) observer(replica string) func(string, bool) {
	return func(key string, held bool) {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		tl.changes = append(tl.changes, tenureChange{replica, key, held, time.Now()})
	}
}

// tenure is one replica's hold on one lease.
type tenure struct {
	replica   string
	from, to  time.Time // to is zero while held
	openEnded bool
}

// tenures returns every tenure of key, in order of gain.
func (tl *tenureLog) tenures(key string) []tenure {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []tenure
	open := map[string]int{}
	for _, c := range tl.changes {
		if c.key != key {
			continue
		}
		if c.held {
			open[c.replica] = len(out)
			out = append(out, tenure{replica: c.replica, from: c.at, openEnded: true})
			continue
		}
		if i, ok := open[c.replica]; ok {
			out[i].to, out[i].openEnded = c.at, false
			delete(open, c.replica)
		}
	}
	return out
}

// holders maps each policy lease to its current holder.
func (tl *tenureLog) holders() map[string]string {
	tl.mu.Lock()
	keys := map[string]bool{}
	for _, c := range tl.changes {
		keys[c.key] = true
	}
	tl.mu.Unlock()
	out := map[string]string{}
	for k := range keys {
		for _, te := range tl.tenures(k) {
			if te.openEnded {
				out[k] = te.replica
			}
		}
	}
	return out
}

func (tl *tenureLog) held(replica string) []string {
	var out []string
	for k, h := range tl.holders() {
		if h == replica && strings.HasPrefix(k, "policy.") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

type fleetReplica struct {
	name   string
	d      *scaler.Daemon
	dialer *cutDialer
	cloud  *mortal
	cancel context.CancelFunc
	done   chan error
}

func startReplica(t *testing.T, name, cfg string, cloud *simcloud.Cloud, tl *tenureLog) *fleetReplica {
	t.Helper()
	r := &fleetReplica{name: name, dialer: &cutDialer{}, cloud: &mortal{Provider: &simcloud.Local{Cloud: cloud}}, done: make(chan error, 1)}
	d, err := scaler.New(scaler.Options{ConfigPath: cfg, Log: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)).Named(name),
		Providers: map[string]providers.Provider{"sim": r.cloud}, Replica: name, Dialer: r.dialer, OnLease: tl.observer(name)})
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-r.done:
		t.Fatalf("replica %s stopped before ready: %v", name, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("replica %s not ready within 60s", name)
	}
	return r
}

// kill makes the replica vanish: its network and its cloud calls die at
// once, and then its process stops, having released nothing.
func (r *fleetReplica) kill() {
	r.dialer.cutOff()
	r.cloud.dead.Store(true)
	r.cancel()
}

// wait waits for Run to return.
func (r *fleetReplica) wait(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("replica %s: run: %v", r.name, err)
		}
	case <-time.After(limit):
		t.Fatalf("replica %s did not stop within %s", r.name, limit)
	}
	return time.Since(start)
}

const (
	fleetLeaseTTL = 4 * time.Second
	fleetGrace    = 5 * time.Second
	spikeEvery    = 10 * time.Second
	spikeFor      = 4 * time.Second
	spikes        = 5
)

// spiking reports whether the workload is in a spike at offset d.
func spiking(d, phase time.Duration) bool {
	d -= phase
	if d < 0 || d >= spikes*spikeEvery {
		return false
	}
	return d%spikeEvery < spikeFor
}

func fleetFiles(natsURL string, synthetic, pushed int) map[string]string {
	var p strings.Builder
	p.WriteString("policies:\n")
	rules := `    evaluation_interval: 1s
    min: 5
    max: 20
    up:   {threshold: 0.8, for: 2s, step: 100%, cooldown: 2s}
    down: {threshold: 0.4, for: 2s, stabilization: 3s, cooldown: 2s}
`
	for i := range synthetic {
		var sp []string
		for k := range spikes {
			sp = append(sp, fmt.Sprintf("{start: %s, duration: %s, value: 10}", time.Duration(k)*spikeEvery+time.Duration(i)*time.Second, spikeFor))
		}
		fmt.Fprintf(&p, "  - name: syn-%d\n    targets: {provider: sim, resource: bandwidth_out, instances: [syn-%d-a, syn-%d-b]}\n", i, i, i)
		fmt.Fprintf(&p, "    metric:\n      synthetic: {base: 5, spikes: [%s]}\n%s", strings.Join(sp, ", "), rules)
	}
	for i := range pushed {
		fmt.Fprintf(&p, "  - name: push-%d\n    targets: {provider: sim, resource: bandwidth_out, instances: [push-%d-a, push-%d-b]}\n", i, i, i)
		fmt.Fprintf(&p, "    metric: {source: pushed}\n%s", rules)
	}
	return map[string]string{
		"specscale.yaml": fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
nats:
  url: %q
  replicas: 3
fleet: {lease_ttl: %s, shutdown_grace: %s}
sources:
  - {name: pushed, type: nats}
providers:
  - name: sim
    type: simulated
    write_rate: 100
    write_burst: 20
executor: {workers: 4, backoff_initial: 100ms, backoff_max: 1s, ack_wait: 3s, intent_ttl: 1m, reconcile_interval: 5s}
policies: [policies.yaml]
`, natsURL, fleetLeaseTTL, fleetGrace),
		"policies.yaml": p.String(),
	}
}

// The fleet on a 3-node NATS cluster: three replicas share one simulated
// cloud; one replica dies, then one NATS node. Each policy is evaluated by
// one replica at a time throughout, a dead replica's policies are taken
// over within the lease TTL, and the cloud's ledger shows every change
// once, each recorded, none lost.
func TestFleetOnANATSCluster(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	const synthetic, pushed = 6, 2
	cluster := startNATSCluster(t, 3)
	dir := t.TempDir()
	writeFiles(t, dir, fleetFiles(cluster.url(), synthetic, pushed))
	cfg := filepath.Join(dir, "specscale.yaml")

	rules := simcloud.DefaultRules()
	rules.Lock, rules.DowngradesPerCycle = time.Second, 0
	cloud, err := simcloud.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	var instances []string
	for i := range synthetic {
		instances = append(instances, fmt.Sprintf("syn-%d-a", i), fmt.Sprintf("syn-%d-b", i))
	}
	for i := range pushed {
		instances = append(instances, fmt.Sprintf("push-%d-a", i), fmt.Sprintf("push-%d-b", i))
	}
	for _, id := range instances {
		if err := cloud.Put(simcloud.Instance{ID: id, Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}); err != nil {
			t.Fatal(err)
		}
	}

	tl := &tenureLog{}
	start := time.Now()
	var replicas []*fleetReplica
	for i := range 3 {
		replicas = append(replicas, startReplica(t, fmt.Sprintf("r%d", i+1), cfg, cloud, tl))
	}
	alive := slices.Clone(replicas)
	defer func() {
		for _, r := range alive {
			r.cancel()
			r.wait(t, 60*time.Second)
		}
	}()

	// Samples for the pushed policies, on the cluster, from outside.
	nc := cluster.connect(t)
	defer nc.Close()
	driverDone := make(chan struct{})
	stopDriver := make(chan struct{})
	go func() {
		defer close(driverDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopDriver:
				return
			case <-tick.C:
			}
			for i := range pushed {
				v := 5.0
				if spiking(time.Since(start), time.Duration(synthetic+i)*time.Second) {
					v = 15
				}
				for _, s := range []string{"a", "b"} {
					_ = nc.Publish(fmt.Sprintf("specscale.metrics.sim/bandwidth_out/push-%d-%s", i, s), []byte(fmt.Sprint(v)))
				}
			}
		}
	}()
	defer func() { close(stopDriver); <-driverDone }()

	// The policies spread over the three replicas.
	waitFor(t, 30*time.Second, "every replica to evaluate two policies or more", func() bool {
		for _, r := range replicas {
			if len(tl.held(r.name)) < 2 {
				return false
			}
		}
		return true
	})
	for _, r := range replicas {
		t.Logf("%s evaluates %v", r.name, tl.held(r.name))
	}

	// A replica dies: the one evaluating the most policies.
	time.Sleep(time.Until(start.Add(15 * time.Second)))
	victim := replicas[0]
	for _, r := range replicas {
		if len(tl.held(r.name)) > len(tl.held(victim.name)) {
			victim = r
		}
	}
	orphans := tl.held(victim.name)
	killed := time.Now()
	victim.kill()
	alive = slices.DeleteFunc(alive, func(r *fleetReplica) bool { return r == victim })
	waitFor(t, 3*fleetLeaseTTL, "the dead replica's policies to be taken over", func() bool {
		h := tl.holders()
		for _, k := range orphans {
			if h[k] == "" || h[k] == victim.name {
				return false
			}
		}
		return true
	})
	for _, k := range orphans {
		te := tl.tenures(k)
		last := te[len(te)-1]
		took := last.from.Sub(killed)
		t.Logf("%s: %s took over from %s %s after it died", k, last.replica, victim.name, took.Round(time.Millisecond))
		if took > fleetLeaseTTL {
			t.Errorf("%s: taken over %s after %s died, want within the lease TTL %s", k, took, victim.name, fleetLeaseTTL)
		}
	}
	if d := time.Since(killed) + victim.wait(t, 60*time.Second); d > fleetGrace+5*time.Second {
		t.Errorf("the dead replica's Run took %s to return", d)
	} else {
		t.Logf("the dead replica's Run returned %s after it was killed", d.Round(time.Millisecond))
	}

	// A live replica is cut off from NATS for two lease TTLs: it stops
	// evaluating before anyone else starts, the others take over within
	// the lease TTL, and once back it takes a share again.
	time.Sleep(time.Until(start.Add(23 * time.Second)))
	cut := alive[0]
	if len(tl.held(alive[1].name)) > len(tl.held(cut.name)) {
		cut = alive[1]
	}
	stranded := tl.held(cut.name)
	cutAt := time.Now()
	cut.dialer.cutOff()
	waitFor(t, 3*fleetLeaseTTL, "the cut-off replica's policies to be taken over", func() bool {
		h := tl.holders()
		for _, k := range stranded {
			if h[k] == "" || h[k] == cut.name {
				return false
			}
		}
		return true
	})
	validity := fleetLeaseTTL * 3 / 4 * 4 / 5
	for _, k := range stranded {
		var stopped, took time.Duration = -1, -1
		by := ""
		for _, te := range tl.tenures(k) {
			if te.replica == cut.name && te.from.Before(cutAt) && (te.openEnded || te.to.After(cutAt)) && !te.openEnded {
				stopped = te.to.Sub(cutAt)
			}
			if te.replica != cut.name && te.from.After(cutAt) && took < 0 {
				took, by = te.from.Sub(cutAt), te.replica
			}
		}
		t.Logf("%s: %s stopped %s after it was cut off; %s took over after %s", k, cut.name, stopped.Round(time.Millisecond), by, took.Round(time.Millisecond))
		if stopped < 0 || stopped > validity+250*time.Millisecond {
			t.Errorf("%s: %s went on evaluating %s after it was cut off, want at most its validity %s", k, cut.name, stopped, validity)
		}
		if took < 0 || took > fleetLeaseTTL {
			t.Errorf("%s: taken over %s after %s was cut off, want within the lease TTL %s", k, took, cut.name, fleetLeaseTTL)
		}
	}
	time.Sleep(time.Until(cutAt.Add(2 * fleetLeaseTTL)))
	cut.dialer.heal()
	waitFor(t, 10*fleetLeaseTTL, "the healed replica to evaluate again", func() bool { return len(tl.held(cut.name)) > 0 })

	// A NATS node dies: the one leading the leases' stream.
	time.Sleep(time.Until(start.Add(40 * time.Second)))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	info, err := js.Stream(ctx, "KV_"+scaler.LeaseBucket)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	leader := info.CachedInfo().Cluster.Leader
	t.Logf("killing NATS node %s, leader of the leases", leader)
	cluster.kill(leader)
	waitFor(t, 60*time.Second, "every policy evaluated again after the NATS node died", func() bool {
		h := tl.holders()
		n := 0
		for k, who := range h {
			if strings.HasPrefix(k, "policy.") && who != "" && who != victim.name {
				n++
			}
		}
		return n == synthetic+pushed
	})

	// The workload ends; the fleet settles with every target at the
	// policy's floor recommendation (5 ÷ 0.6, rounded up).
	time.Sleep(time.Until(start.Add(spikes*spikeEvery + 5*time.Second)))
	stateKV, err := js.KeyValue(context.Background(), scaler.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	store := &scaler.Store{KV: stateKV}
	waitFor(t, 90*time.Second, "the fleet to settle", func() bool {
		return settled(t, cloud, store, js, instances) == ""
	})

	// A graceful stop hands the policies over at once.
	leaving := alive[0]
	handed := tl.held(leaving.name)
	stopped := time.Now()
	leaving.cancel()
	leaving.wait(t, fleetGrace+30*time.Second)
	alive = alive[1:]
	waitFor(t, 2*fleetLeaseTTL, "the leaving replica's policies to be taken over", func() bool {
		h := tl.holders()
		for _, k := range handed {
			if h[k] == "" || h[k] == leaving.name {
				return false
			}
		}
		return true
	})
	for _, k := range handed {
		te := tl.tenures(k)
		took := te[len(te)-1].from.Sub(stopped)
		t.Logf("%s: %s took over %s after %s began a graceful stop", k, te[len(te)-1].replica, took.Round(time.Millisecond), leaving.name)
		if took > fleetLeaseTTL/2 {
			t.Errorf("%s: taken over %s after a graceful stop, want at once", k, took)
		}
	}
	for _, r := range alive {
		r.cancel()
		r.wait(t, fleetGrace+30*time.Second)
	}
	alive = nil

	events := readEvents(t, js)
	checkOneEvaluatorAtATime(t, tl, events, synthetic, pushed)
	checkLedger(t, cloud, events)
	checkNoIntentLost(t, events)
	byReplica := map[string]int{}
	for _, e := range events {
		if e.Type == scaler.EventDecision {
			byReplica[e.Replica]++
		}
	}
	lost := map[string]int{}
	for _, e := range events {
		if e.Type == scaler.EventLeaseLost {
			lost[e.Replica]++
		}
	}
	t.Logf("decisions by replica: %v; leases lost by replica: %v; %d changes in the ledger", byReplica, lost, len(cloud.Ledger()))
	if t.Failed() {
		for _, e := range events {
			switch e.Type {
			case scaler.EventLeaseAcquired, scaler.EventLeaseLost, scaler.EventLeaseReleased:
				t.Logf("%s %s %s %s", e.At.Format(time.StampMicro), e.Replica, e.Type, e.Reason)
			}
		}
	}
	if byReplica[victim.name] == 0 || len(byReplica) != 3 {
		t.Errorf("decisions by replica: %v, want all three to have decided", byReplica)
	}
}

// settled says what is still moving, or "" once every target is at 9 in
// the cloud and in KV with nothing pending, and no intent waits.
func settled(t *testing.T, cloud *simcloud.Cloud, store *scaler.Store, js jetstream.JetStream, instances []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	live := map[string]float64{}
	for _, in := range cloud.Instances() {
		live[in.ID] = in.Values[providers.BandwidthOut]
	}
	for _, id := range instances {
		st, _, err := store.Get(ctx, providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: id})
		if err != nil {
			return err.Error()
		}
		if live[id] != 9 || st.Value != 9 || st.Pending != nil {
			return fmt.Sprintf("%s: cloud %g, state %g, pending %v", id, live[id], st.Value, st.Pending != nil)
		}
	}
	s, err := js.Stream(ctx, scaler.IntentStream)
	if err != nil {
		return err.Error()
	}
	if n := s.CachedInfo().State.Msgs; n != 0 {
		return fmt.Sprintf("%d intents wait", n)
	}
	return ""
}

// readEvents reads the whole audit stream, retrying while the cluster
// settles after losing a node.
func readEvents(t *testing.T, js jetstream.JetStream) []scaler.Event {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var out []scaler.Event
		if out, err = tryReadEvents(js); err == nil {
			return out
		}
		t.Logf("reading the events: %v; retrying", err)
	}
	t.Fatalf("reading the events: %v", err)
	return nil
}

func tryReadEvents(js jetstream.JetStream) ([]scaler.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, scaler.EventStream)
	if err != nil {
		return nil, err
	}
	total := s.CachedInfo().State.Msgs
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	var out []scaler.Event
	for uint64(len(out)) < total {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var e scaler.Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return nil, fmt.Errorf("event %s: %w", m.Data(), err)
			}
			out = append(out, e)
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("read %d of %d events", len(out), total)
		}
	}
	return out, nil
}

// checkOneEvaluatorAtATime: the tenures of one lease never overlap, and
// every evaluation's event falls inside a tenure of its replica.
func checkOneEvaluatorAtATime(t *testing.T, tl *tenureLog, events []scaler.Event, synthetic, pushed int) {
	t.Helper()
	keys := []string{scaler.LeaderLease}
	for i := range synthetic {
		keys = append(keys, scaler.PolicyLease(fmt.Sprintf("syn-%d", i)))
	}
	for i := range pushed {
		keys = append(keys, scaler.PolicyLease(fmt.Sprintf("push-%d", i)))
	}
	handovers := 0
	for _, k := range keys {
		te := tl.tenures(k)
		if len(te) == 0 {
			t.Errorf("%s: never held", k)
		}
		for i, a := range te {
			if a.openEnded {
				t.Errorf("%s: %s still holds it after every replica stopped", k, a.replica)
			}
			if i > 0 {
				prev := te[i-1]
				if a.from.Before(prev.to) {
					t.Errorf("%s: %s gained it at %s while %s held it until %s", k, a.replica, a.from.Format(time.StampMicro), prev.replica, prev.to.Format(time.StampMicro))
				}
				if a.replica != prev.replica {
					handovers++
				}
			}
		}
	}
	t.Logf("%d handovers between replicas", handovers)
	evaluations := 0
	for _, e := range events {
		switch e.Type {
		case scaler.EventDecision, scaler.EventBlocked, scaler.EventMissingData:
		default:
			continue
		}
		evaluations++
		inside := false
		for _, te := range tl.tenures(scaler.PolicyLease(e.Policy)) {
			if te.replica == e.Replica && !e.At.Before(te.from) && !e.At.After(te.to) {
				inside = true
				break
			}
		}
		if !inside {
			t.Errorf("%s by %s for %s at %s outside its tenures of the policy", e.Type, e.Replica, e.Target, e.At.Format(time.StampMicro))
		}
	}
	if evaluations == 0 {
		t.Error("no evaluation events")
	}
}

// checkLedger: per instance, each change starts where the last ended and
// moves (none lost, none repeated); each has one applied event, and each
// applied event one change.
func checkLedger(t *testing.T, cloud *simcloud.Cloud, events []scaler.Event) {
	t.Helper()
	applied := map[string]int{}
	for _, e := range events {
		if e.Type == scaler.EventApplied {
			applied[e.IntentID]++
		}
	}
	last := map[string]float64{}
	tokens := map[string]int{}
	for _, e := range cloud.Ledger() {
		from, ok := last[e.Instance]
		if !ok {
			from = 10
		}
		if e.From != from {
			t.Errorf("ledger #%d %s: from %g, but the last change left it at %g", e.Seq, e.Instance, e.From, from)
		}
		if e.To == e.From {
			t.Errorf("ledger #%d %s: a change from %g to itself", e.Seq, e.Instance, e.From)
		}
		last[e.Instance] = e.To
		tokens[e.Token]++
		if tokens[e.Token] > 1 {
			t.Errorf("ledger #%d: intent %s applied again", e.Seq, e.Token)
		}
		if applied[e.Token] != 1 {
			t.Errorf("ledger #%d %s %g→%g: %d applied events for intent %s, want 1", e.Seq, e.Instance, e.From, e.To, applied[e.Token], e.Token)
		}
	}
	for id := range applied {
		if tokens[id] == 0 {
			t.Errorf("applied event for intent %s, which is not in the ledger", id)
		}
	}
}

// checkNoIntentLost: every decision ended (applied, dropped, superseded,
// refused, failed), or was replaced on the bus by a later decision for the
// same target.
func checkNoIntentLost(t *testing.T, events []scaler.Event) {
	t.Helper()
	ended := map[string]bool{}
	latest := map[string]time.Time{}
	for _, e := range events {
		switch e.Type {
		case scaler.EventApplied, scaler.EventSuperseded, scaler.EventDroppedStale, scaler.EventDroppedNoop,
			scaler.EventRefused, scaler.EventFailed, scaler.EventScheduled, scaler.EventWouldApply:
			ended[e.IntentID] = true
		case scaler.EventDecision:
			if e.At.After(latest[e.Target]) {
				latest[e.Target] = e.At
			}
		}
	}
	decisions := 0
	for _, e := range events {
		if e.Type != scaler.EventDecision {
			continue
		}
		decisions++
		if !ended[e.IntentID] && !e.At.Before(latest[e.Target]) {
			t.Errorf("decision %s for %s (%s at %s) never ended", e.IntentID, e.Target, e.Replica, e.At.Format(time.StampMicro))
		}
	}
	if decisions == 0 {
		t.Error("no decisions")
	}
}

func startNATS(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, JetStream: true,
		StoreDir: t.TempDir(), JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 4 << 30})
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

// SIGTERM on a replica with work under way: what it started finishes
// within the grace period, what it had taken but not started goes back to
// the stream at once for the other replica, and every change is made once
// and recorded.
func TestGracefulShutdownFinishesAndHandsBack(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	ns := startNATS(t)
	dir := t.TempDir()
	var ids []string
	for i := range 6 {
		ids = append(ids, fmt.Sprintf("edge-%d", i))
	}
	writeFiles(t, dir, map[string]string{
		"specscale.yaml": fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
nats: {url: %q}
fleet: {lease_ttl: 4s, shutdown_grace: 5s}
sources:
  - {name: pushed, type: nats}
providers:
  - {name: sim, type: simulated, write_rate: 100, write_burst: 10}
executor: {workers: 2, ack_wait: 30s}
policies: [policies.yaml]
`, ns.ClientURL()),
		"policies.yaml": fmt.Sprintf(`
policies:
  - name: edge
    targets: {provider: sim, resource: bandwidth_out, instances: [%s]}
    metric: {source: pushed}
    max: 100
    up:   {threshold: 0.8, for: 0s, step: 10}
    down: {threshold: 0.2, for: 1h}
`, strings.Join(ids, ", ")),
	})
	cfg := filepath.Join(dir, "specscale.yaml")
	rules := simcloud.DefaultRules()
	rules.Lock = time.Second
	cloud, err := simcloud.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := cloud.Put(simcloud.Instance{ID: id, Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}); err != nil {
			t.Fatal(err)
		}
	}
	// Every call takes a second: a change is a read and a write.
	cloud.SetFaults(simcloud.Faults{Latency: time.Second})
	tl := &tenureLog{}
	a := startReplica(t, "a", cfg, cloud, tl)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	el := watchEvents(t, nc)
	defer el.sub.Unsubscribe()
	for _, id := range ids {
		if err := nc.Publish("specscale.metrics.sim/bandwidth_out/"+id, []byte("9.5")); err != nil {
			t.Fatal(err)
		}
	}
	decisions := func() int {
		el.mu.Lock()
		defer el.mu.Unlock()
		n := 0
		for _, e := range el.events {
			if e.Type == scaler.EventDecision {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "six decisions", func() bool { return decisions() == len(ids) })
	b := startReplica(t, "b", cfg, cloud, tl)
	defer func() { b.cancel(); b.wait(t, 30*time.Second) }()

	stopped := time.Now()
	a.cancel()
	if took := a.wait(t, 30*time.Second); took > 5*time.Second+3*time.Second {
		t.Errorf("replica a took %s to stop, want within its 5s grace and a little", took)
	}
	waitFor(t, 15*time.Second, "every target changed", func() bool { return len(cloud.Ledger()) == len(ids) })
	// Well within the 30s ack wait: nothing waited for a redelivery.
	t.Logf("all changes made %s after a began to stop", time.Since(stopped).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // nothing more comes
	byReplica := map[string]int{}
	applied := map[string]int{}
	el.mu.Lock()
	for _, e := range el.events {
		if e.Type == scaler.EventApplied {
			byReplica[e.Replica]++
			applied[e.IntentID]++
		}
	}
	el.mu.Unlock()
	t.Logf("applied by replica: %v", byReplica)
	if byReplica["b"] == 0 {
		t.Errorf("applied by replica: %v, want b to have taken over what a had not started", byReplica)
	}
	seen := map[string]bool{}
	for _, e := range cloud.Ledger() {
		if seen[e.Instance] || e.From != 10 || e.To != 20 {
			t.Errorf("ledger: %+v, want each instance once, 10 → 20", e)
		}
		seen[e.Instance] = true
		if applied[e.Token] != 1 {
			t.Errorf("intent %s for %s: %d applied events, want 1", e.Token, e.Instance, applied[e.Token])
		}
	}
	if len(cloud.Ledger()) != len(ids) {
		t.Errorf("ledger has %d changes, want %d", len(cloud.Ledger()), len(ids))
	}
}
