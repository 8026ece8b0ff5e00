package scaler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"github.com/specscale/specscale/config"
	"github.com/specscale/specscale/internal/strictyaml"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/registry"
	"github.com/specscale/specscale/scaler/source"
)

// Options configure a daemon.
type Options struct {
	ConfigPath string
	// DataDir overrides nats.embedded.data_dir.
	DataDir string
	Log     *zap.Logger
	// Registry receives the daemon's metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Entries are the provider types; nil means registry.Builtin().
	Entries map[string]registry.Entry
	// Providers overrides provider accounts by name (tests).
	Providers map[string]providers.Provider
	Now       func() time.Time
	// BoostSweep is how often boosts are checked for a missed end
	// (default 15s).
	BoostSweep time.Duration
	// Replica names this daemon in events and leases; default host-pid.
	// Every replica of a fleet needs its own.
	Replica string
	// Dialer, when set, dials the external NATS servers (tests cut a
	// replica off the network with it).
	Dialer nats.CustomDialer
	// OnLease, when set, is told of every lease this replica gains (before
	// it acts under it) and gives up (after it has stopped acting under
	// it). It must not block.
	OnLease func(key string, held bool)
}

// Validators returns the config validators of the provider types.
func Validators(entries map[string]registry.Entry) map[string]config.ProviderValidator {
	out := make(map[string]config.ProviderValidator, len(entries))
	for name, e := range entries {
		out[name] = e.Validate
	}
	return out
}

// LoadConfig loads and validates a config file with the given provider
// types.
func LoadConfig(path, dataDir string, entries map[string]registry.Entry) (*config.Config, strictyaml.Diagnostics) {
	resources := map[string][]providers.Resource{}
	for name, e := range entries {
		if e.Resources != nil {
			resources[name] = e.Resources()
		}
	}
	return config.Load(path, config.LoadOptions{DataDir: dataDir, Providers: Validators(entries), Resources: resources})
}

// Daemon is a running specscale: embedded or external NATS, the state
// cache, the reconciler, the executors, the evaluation engine and the HTTP
// listener.
type Daemon struct {
	opts    Options
	log     *zap.Logger
	reg     *prometheus.Registry
	metrics *Metrics
	fleetM  *FleetMetrics

	cfg      atomic.Pointer[config.Config]
	runtime  atomic.Pointer[Runtime]
	pollers  atomic.Pointer[map[string]source.Poller]
	accounts map[string]*builtAccount // guarded by reloadMu
	reloadMu sync.Mutex

	ns       *server.Server
	bus      *Bus
	cache    *StateCache
	events   *Events
	engine   *Engine
	fleet    *Fleet
	stopping atomic.Bool
	kick     chan struct{}
	ready    chan struct{}
	httpLn   net.Listener
	httpSrv  *http.Server
	mux      *http.ServeMux
	started  time.Time
	readyErr atomic.Value

	// schedKick tells the scheduler that a reload changed the policies.
	schedKick chan struct{}

	boosts       atomic.Pointer[BoostManager]
	boostMetrics *BoostMetrics
}

type builtAccount struct {
	fingerprint string
	acct        *Account
}

// New loads the config and builds the provider accounts. It starts
// nothing.
func New(opts Options) (*Daemon, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Entries == nil {
		opts.Entries = registry.Builtin()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Replica == "" {
		host, _ := os.Hostname()
		opts.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	d := &Daemon{opts: opts, log: opts.Log.With(zap.String("replica", opts.Replica)), reg: reg, accounts: map[string]*builtAccount{},
		kick: make(chan struct{}, 1), schedKick: make(chan struct{}, 1), ready: make(chan struct{})}
	d.metrics = NewMetrics(reg)
	d.boostMetrics = NewBoostMetrics(reg)
	d.fleetM = NewFleetMetrics(reg)
	cfg, diags := LoadConfig(opts.ConfigPath, opts.DataDir, opts.Entries)
	for _, w := range diags.Warnings() {
		d.log.Warn("config warning", zap.String("diagnostic", w.String()))
	}
	if err := diags.Err(); err != nil {
		return nil, err
	}
	d.cfg.Store(cfg)
	return d, nil
}

// Config returns the config in force.
func (d *Daemon) Config() *config.Config { return d.cfg.Load() }

// Runtime returns the runtime view in force.
func (d *Daemon) Runtime() *Runtime { return d.runtime.Load() }

// Ready is closed once the daemon serves: NATS up, state loaded, every
// target read once.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Bus returns the NATS bus (after Run has started it).
func (d *Daemon) Bus() *Bus { return d.bus }

// HTTPAddr is the bound HTTP address (after Ready).
func (d *Daemon) HTTPAddr() string {
	if d.httpLn == nil {
		return ""
	}
	return d.httpLn.Addr().String()
}

// NATSURL is the embedded server's client URL when it listens on TCP.
func (d *Daemon) NATSURL() string {
	if d.ns == nil || d.Config().NATS.Embedded.Listen == "" {
		return d.Config().NATS.URL
	}
	return d.ns.ClientURL()
}

// Fleet is this replica's membership of the fleet (after Ready): its
// leader lease is the hook for work that must happen once across the fleet.
func (d *Daemon) Fleet() *Fleet { return d.fleet }

// Leads reports whether this replica evaluates policy now (after Ready).
// Work of one policy that must happen once across the fleet checks it.
func (d *Daemon) Leads(policy string) bool { return d.engine != nil && d.engine.Leads(policy) }

// Metrics returns the daemon's metrics.
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// Mux is the HTTP mux, for handlers added before Run (webhooks).
func (d *Daemon) Mux() *http.ServeMux {
	if d.mux == nil {
		d.mux = http.NewServeMux()
	}
	return d.mux
}

// buildAccounts builds the providers of cfg, keeping those whose config
// did not change so that their state (an in-process simulated cloud, a
// rate limiter's budget) survives a reload.
func (d *Daemon) buildAccounts(ctx context.Context, cfg *config.Config) (map[string]*builtAccount, error) {
	out := map[string]*builtAccount{}
	for i, pc := range cfg.Providers {
		fp, _ := yaml.Marshal(pc)
		if old, ok := d.accounts[pc.Name]; ok && old.fingerprint == string(fp) {
			out[pc.Name] = old
			continue
		}
		var prov providers.Provider
		if p, ok := d.opts.Providers[pc.Name]; ok {
			prov = p
		} else {
			entry, err := registry.Lookup(d.opts.Entries, pc.Type)
			if err != nil {
				return nil, err
			}
			prov, err = entry.New(ctx, cfg.Account(i), d.log.With(zap.String("account", pc.Name)))
			if err != nil {
				return nil, fmt.Errorf("provider %q: %w", pc.Name, err)
			}
		}
		burst := max(pc.WriteBurst, 1)
		out[pc.Name] = &builtAccount{fingerprint: string(fp), acct: &Account{
			Name: pc.Name, Provider: prov, Caps: prov.Capabilities(),
			Limiter: rate.NewLimiter(rate.Limit(pc.WriteRate), burst),
			Timeout: pc.Timeout, DryRun: pc.DryRun, Cycle: pc.BillingCycle,
		}}
	}
	return out, nil
}

func buildRuntime(cfg *config.Config, accts map[string]*builtAccount) (*Runtime, error) {
	rt := &Runtime{Accounts: map[string]*Account{}, Policies: map[string]*policy.Policy{}, Owner: map[string]*policy.Policy{}, Executor: cfg.Executor}
	for name, b := range accts {
		rt.Accounts[name] = b.acct
	}
	for _, p := range cfg.Loaded {
		acct := rt.Accounts[p.Targets.Provider]
		if acct == nil {
			return nil, fmt.Errorf("policy %q: no provider account %q", p.Name, p.Targets.Provider)
		}
		if _, ok := acct.Caps.Resource(providers.Resource(p.Targets.Resource)); !ok {
			return nil, fmt.Errorf("%s: policy %q: provider %q (%s) cannot change %s", p.File, p.Name, acct.Name, acct.Caps.Type, p.Targets.Resource)
		}
		rt.Policies[p.Name] = p
		for _, t := range Targets(p) {
			if other, dup := rt.Owner[t.Key()]; dup {
				return nil, fmt.Errorf("target %s belongs to both policy %q and policy %q", t, other.Name, p.Name)
			}
			rt.Owner[t.Key()] = p
		}
	}
	return rt, nil
}

func buildPollers(cfg *config.Config) (map[string]source.Poller, error) {
	out := map[string]source.Poller{}
	for _, s := range cfg.Sources {
		if s.Type != config.SourcePrometheus {
			continue
		}
		p, err := source.NewPrometheus(s.Name, s.URL, s.HTTPConfig, s.Timeout)
		if err != nil {
			return nil, err
		}
		out[s.Name] = p
	}
	return out, nil
}

// Reload re-reads the config and the policy files. A config that fails
// validation is refused, its errors logged and returned, and the running
// one kept.
func (d *Daemon) Reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, diags := LoadConfig(d.opts.ConfigPath, d.opts.DataDir, d.opts.Entries)
	err := diags.Err()
	var accts map[string]*builtAccount
	var rt *Runtime
	var pollers map[string]source.Poller
	if err == nil {
		accts, err = d.buildAccounts(ctx, cfg)
	}
	if err == nil {
		rt, err = buildRuntime(cfg, accts)
	}
	if err == nil {
		pollers, err = buildPollers(cfg)
	}
	if err != nil {
		d.metrics.ConfigReloads.WithLabelValues("rejected").Inc()
		d.log.Error("config reload refused; keeping the running config", zap.String("errors", err.Error()))
		if d.events != nil {
			_ = d.events.Publish(ctx, Event{Type: EventConfigRejected, Reason: err.Error()})
		}
		return err
	}
	for _, w := range diags.Warnings() {
		d.log.Warn("config warning", zap.String("diagnostic", w.String()))
	}
	if old := d.Config(); old != nil && (old.NATS.URL != cfg.NATS.URL || old.HTTP.Listen != cfg.HTTP.Listen || old.NATS.Embedded != cfg.NATS.Embedded) {
		d.log.Warn("nats and http settings change only on restart")
	}
	releaseInstanceNodes(cfg)
	d.cfg.Store(cfg)
	d.accounts = accts
	d.runtime.Store(rt)
	d.pollers.Store(&pollers)
	if d.engine != nil {
		d.engine.Apply(rt)
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
	select {
	case d.schedKick <- struct{}{}:
	default:
	}
	d.metrics.ConfigReloads.WithLabelValues("applied").Inc()
	d.log.Info("config loaded", zap.Int("policies", len(rt.Policies)), zap.Int("targets", len(rt.Owner)), zap.Int("providers", len(rt.Accounts)))
	if d.events != nil {
		_ = d.events.Publish(ctx, Event{Type: EventConfigReloaded, Reason: fmt.Sprintf("%d policies, %d targets", len(rt.Policies), len(rt.Owner))})
	}
	return nil
}

// releaseInstanceNodes drops the YAML nodes of the policies' instance
// lists once the config has loaded: they serve only the diagnostics of
// loading, and kept alive for the life of the config they were 16 MB of
// live heap at 100,000 instances (about twice that in RSS). The instance IDs
// themselves stay in each policy's Targets.
func releaseInstanceNodes(cfg *config.Config) {
	for _, p := range cfg.Loaded {
		if n := strictyaml.Find(p.Node, "targets", "instances"); n != nil {
			n.Content = nil
		}
	}
}

// Run starts everything and blocks until ctx is cancelled; then it shuts
// down in order — stop deciding, let executors finish, close NATS — and
// returns.
func (d *Daemon) Run(ctx context.Context) (err error) {
	d.started = time.Now()
	cfg := d.Config()

	if cfg.NATS.URL == "" {
		d.ns, err = StartEmbedded(cfg.NATS.Embedded, d.log)
		if err != nil {
			return err
		}
		defer func() {
			d.ns.Shutdown()
			d.ns.WaitForShutdown()
		}()
	}
	var extra []nats.Option
	if d.opts.Dialer != nil {
		extra = append(extra, nats.SetCustomDialer(d.opts.Dialer))
	}
	nc, err := Connect(cfg.NATS, d.ns, "specscale "+d.opts.Replica, d.log, extra...)
	if err != nil {
		return err
	}
	defer nc.Close()
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	d.bus, err = OpenBus(octx, nc, BusOptions{Replicas: cfg.NATS.Replicas})
	var leases jetstream.KeyValue
	var keyTTL time.Duration
	if err == nil {
		leases, keyTTL, err = OpenLeases(octx, d.bus.JS, cfg.NATS.Replicas, cfg.Fleet.LeaseTTL)
	}
	cancel()
	if err != nil {
		return err
	}
	if keyTTL > timingsFor(cfg.Fleet.LeaseTTL).key {
		d.log.Warn("the leases bucket keeps a longer TTL than fleet.lease_ttl asks for: failover takes up to the longer one; lowering it needs every replica stopped (docs/operations.md)",
			zap.Duration("bucket_ttl", keyTTL), zap.Duration("lease_ttl", cfg.Fleet.LeaseTTL))
	}
	d.bus.Embedded = d.ns
	octx, cancel = context.WithTimeout(ctx, 30*time.Second)
	_, err = OpenTimers(octx, d.bus.JS, cfg.NATS.Replicas)
	cancel()
	if err != nil {
		return err
	}
	d.events = &Events{JS: d.bus.JS, Log: d.log, Replica: d.opts.Replica}
	if err := d.Reload(ctx); err != nil {
		return err
	}

	if err := d.listenHTTP(cfg.HTTP.Listen); err != nil {
		return err
	}

	var wg sync.WaitGroup
	goRun := func(name string, fn func(context.Context) error, c context.Context) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(c); err != nil {
				d.log.Error(name+" stopped", zap.Error(err))
			}
		}()
	}
	// The executors stop last among the workers, so that decisions made
	// during shutdown still reach a consumer or wait durably in the stream.
	execCtx, stopExec := context.WithCancel(context.WithoutCancel(ctx))
	defer stopExec()
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()

	d.cache = NewStateCache()
	goRun("state cache", func(c context.Context) error { return d.cache.Run(c, d.bus.State) }, workCtx)
	select {
	case <-d.cache.Ready():
	case <-ctx.Done():
	}
	// Leases decide which policies this replica evaluates (and reconciles);
	// the fleet outlives the engine so that the engine's leases are
	// released before it stops.
	d.fleet = &Fleet{KV: leases, Replica: d.opts.Replica, TTL: cfg.Fleet.LeaseTTL, Log: d.log, Events: d.events,
		Metrics: d.fleetM, OnChange: d.opts.OnLease}
	d.fleet.Start(context.WithoutCancel(ctx))
	defer d.fleet.Stop()
	engine := &Engine{Bus: d.bus, Cache: d.cache, Events: d.events, Metrics: d.metrics, Log: d.log, Now: d.opts.Now,
		Replica: d.opts.Replica, Synthetic: &source.Synthetic{Start: d.opts.Now()}, Bounds: ScheduleBounds, Fleet: d.fleet,
		Pollers: func() map[string]source.Poller { return *d.pollers.Load() }}

	store := &Store{KV: d.bus.State}
	rec := &Reconciler{Store: store, Cache: d.cache, Events: d.events, Log: d.log, Runtime: d.Runtime, Now: d.opts.Now,
		Interval: cfg.Executor.ReconcileInterval, Parallel: 8, Kick: d.kick}
	// This pass answers the kick of the reload that loaded the config.
	select {
	case <-d.kick:
	default:
	}
	rec.Pass(ctx) // every target once, whoever evaluates it
	rec.Owns = engine.Leads
	goRun("reconciler", rec.Run, workCtx)

	exec := &Executor{Bus: d.bus, Store: store, Cache: d.cache, Events: d.events, Metrics: d.metrics, Log: d.log,
		Runtime: d.Runtime, Now: d.opts.Now, Workers: cfg.Executor.Workers, Grace: cfg.Fleet.ShutdownGrace}
	goRun("executor", exec.Run, execCtx)

	d.reloadMu.Lock()
	d.engine = engine
	err = engine.Start(workCtx, d.Runtime())
	d.reloadMu.Unlock()
	if err != nil {
		return fmt.Errorf("start the evaluation engine: %w", err)
	}
	boosts := &BoostManager{Bus: d.bus, Store: store, Cache: d.cache, Events: d.events, Metrics: d.boostMetrics, Log: d.log,
		Runtime: d.Runtime, Now: d.opts.Now, Replica: d.opts.Replica, Observed: engine.LastObservation,
		Bounds: func(p *policy.Policy, t providers.Target, now time.Time) policy.Bounds {
			if engine.Bounds != nil {
				return engine.Bounds(p, t, now)
			}
			return p.Bounds()
		},
		Sweep: d.opts.BoostSweep, Leads: d.fleet.Leader().Held}
	d.boosts.Store(boosts)
	goRun("boost timers", boosts.Run, workCtx)
	boostSub, err := boosts.SubscribeRequests()
	if err != nil {
		return err
	}
	goRun("boost requests", func(c context.Context) error { return boosts.ServeRequests(c, boostSub) }, workCtx)
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		engine.Wait()
	}()
	sched := &Scheduler{JS: d.bus.JS, Cache: d.cache, Events: d.events, Log: d.log, Runtime: d.Runtime, Now: d.opts.Now,
		Replica: d.opts.Replica, Replicas: cfg.NATS.Replicas, Kick: d.schedKick, Leads: d.fleet.Leader().Held}
	goRun("scheduler", sched.Run, workCtx)
	close(d.ready)
	d.log.Info("specscale is running", zap.String("http", d.HTTPAddr()), zap.String("nats", d.NATSURL()))

	<-ctx.Done()
	d.log.Info("shutting down")
	d.stopping.Store(true)
	// Stop deciding, and hand the policies to the other replicas at once;
	// then let executions under way finish (within the grace period) and
	// hand back the intents not started.
	d.fleet.Leave()
	stopWork()
	<-engineDone
	d.fleet.Stop()
	stopExec()
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = d.httpSrv.Shutdown(sctx)
	scancel()
	if err := nc.Drain(); err == nil {
		waitClosed(nc, 5*time.Second)
	}
	return nil
}

func waitClosed(nc *nats.Conn, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *Daemon) listenHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	d.httpLn = ln
	mux := d.Mux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-d.ready:
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if d.stopping.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if d.bus == nil || !d.bus.NC.IsConnected() {
			http.Error(w, "nats not connected", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("POST "+AlertmanagerPath, d.alertmanagerHandler)
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Reload(r.Context()); err != nil {
			http.Error(w, "reload refused; the running config is kept:\n"+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "reloaded")
	})
	d.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := d.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", zap.Error(err))
		}
	}()
	return nil
}
