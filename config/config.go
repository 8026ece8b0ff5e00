// Package config loads the daemon config file: NATS, metric sources,
// provider accounts and credential references, the HTTP listener, logging,
// the executor, and the policy files it names. It decodes strictly, applies
// defaults, and reports every problem at once with file:line:col and the path
// to the field. It knows nothing of policy evaluation.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	promcfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/internal/strictyaml"
	"github.com/specscale/specscale/policy"
	"github.com/specscale/specscale/providers"
)

// Config is the daemon config.
type Config struct {
	NATS      NATS       `yaml:"nats"`
	HTTP      HTTP       `yaml:"http"`
	Log       Log        `yaml:"log"`
	Sources   []Source   `yaml:"sources"`
	Providers []Provider `yaml:"providers"`
	// Policies lists policy files: paths or globs, relative to the config
	// file's directory.
	Policies []string `yaml:"policies"`
	Executor Executor `yaml:"executor"`
	// Hooks are the webhook receivers on the HTTP listener.
	Hooks Hooks `yaml:"hooks"`
	Fleet Fleet `yaml:"fleet"`

	// File is the config file's path; PolicyFiles the files the globs
	// matched, and Loaded their policies.
	File        string           `yaml:"-"`
	PolicyFiles []string         `yaml:"-"`
	Loaded      []*policy.Policy `yaml:"-"`
	root        *yaml.Node
}

// NATS is how the daemon reaches NATS.
type NATS struct {
	// URL of an external NATS server or cluster (comma-separated). Empty
	// starts an embedded nats-server with JetStream.
	URL string `yaml:"url"`
	// CredentialsFile is a NATS .creds file for an external server.
	CredentialsFile string `yaml:"credentials_file"`
	// Token authenticates to an external server.
	Token *providers.SecretRef `yaml:"token"`
	// Replicas of the streams and the KV bucket (1 embedded, 3 in a
	// production cluster).
	Replicas int      `yaml:"replicas"`
	Embedded Embedded `yaml:"embedded"`
}

// Embedded configures the in-process nats-server.
type Embedded struct {
	// DataDir holds JetStream's file store (default ./data, or --data-dir).
	DataDir string `yaml:"data_dir"`
	// SyncInterval: "always" (default) fsyncs every write so that an OS
	// crash loses no acknowledged intent; a duration fsyncs that often.
	SyncInterval string `yaml:"sync_interval"`
	// Listen, when set, also serves NATS on this TCP address (host:port)
	// so that `specscale status` and other tools can connect.
	Listen string `yaml:"listen"`
	// MaxMemory and MaxStore bound JetStream (bytes; defaults 256 MiB and
	// 10 GiB).
	MaxMemory int64 `yaml:"max_memory"`
	MaxStore  int64 `yaml:"max_store"`
}

// HTTP is the daemon's HTTP listener: /metrics, /healthz, /readyz,
// /-/reload and the webhook receivers.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Hooks are the webhook receivers.
type Hooks struct {
	// Alertmanager, when set, serves POST /hooks/alertmanager.
	Alertmanager *AlertmanagerHook `yaml:"alertmanager"`
}

// AlertmanagerHook is the Alertmanager webhook receiver.
type AlertmanagerHook struct {
	// Token is the bearer token Alertmanager must send
	// (http_config.authorization.credentials_file on its side). It is read
	// on every request, so a rotated file takes effect without a reload.
	Token *providers.SecretRef `yaml:"token"`
	// MaxBodyBytes bounds a notification's size (default 1 MiB); a larger
	// one is answered 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// DefaultMaxBodyBytes bounds a webhook notification.
const DefaultMaxBodyBytes = 1 << 20

// Log configures zap.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // console or json
}

// Source is a metric source.
type Source struct {
	Name string `yaml:"name"`
	// Type: "prometheus" (instant queries) or "nats" (samples pushed on
	// specscale.metrics.<target>).
	Type string `yaml:"type"`
	// URL of the Prometheus server.
	URL string `yaml:"url"`
	// HTTPConfig is Prometheus' own http_config: basic auth, bearer, TLS.
	// Secrets only through *_file fields.
	HTTPConfig promcfg.HTTPClientConfig `yaml:"http_config"`
	// Timeout bounds one query.
	Timeout time.Duration `yaml:"timeout"`
}

// Source types.
const (
	SourcePrometheus = "prometheus"
	SourceNATS       = "nats"
)

// Provider is a provider account.
type Provider struct {
	Name     string `yaml:"name"`
	Type     string `yaml:"type"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
	// Credentials maps each credential's name to {env: NAME} or
	// {file: PATH}; never an inline value.
	Credentials map[string]providers.SecretRef `yaml:"credentials"`
	Timeout     time.Duration                  `yaml:"timeout"`
	// WriteRate limits write calls per second to this account; WriteBurst
	// is how many may go at once.
	WriteRate  float64 `yaml:"write_rate"`
	WriteBurst int     `yaml:"write_burst"`
	// DryRun runs everything but the write call for every policy on this
	// account.
	DryRun       bool         `yaml:"dry_run"`
	BillingCycle BillingCycle `yaml:"billing_cycle"`
	// Options are the provider type's own settings.
	Options yaml.Node `yaml:"options"`
}

// BillingCycle says where billing cycles start, for downgrade quotas.
type BillingCycle struct {
	// MonthlyDay: cycles start at 00:00 UTC on this day of each month.
	MonthlyDay int `yaml:"monthly_day"`
	// FromExpiry: each subscription's cycle ends at its expiry, as the
	// provider reports it.
	FromExpiry bool `yaml:"from_expiry"`
}

// Executor tunes the executors.
type Executor struct {
	// Workers is the number of executor goroutines.
	Workers int `yaml:"workers"`
	// MaxAttempts bounds provider calls per intent.
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffInitial and BackoffMax bound the jittered exponential backoff
	// between attempts.
	BackoffInitial time.Duration `yaml:"backoff_initial"`
	BackoffMax     time.Duration `yaml:"backoff_max"`
	// IntentTTL is how long an intent stays worth applying (its not-after).
	IntentTTL time.Duration `yaml:"intent_ttl"`
	// ReconcileInterval is how often every target's live value is read.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// AckWait is how long JetStream waits for an executor before it
	// redelivers an intent (after a crash); executors extend it while a
	// provider call runs.
	AckWait time.Duration `yaml:"ack_wait"`
}

// Fleet is how replicas of the daemon share one NATS cluster and leave it.
type Fleet struct {
	// LeaseTTL bounds how long a policy goes unevaluated after the replica
	// evaluating it dies: another replica takes it over within this time. A
	// replica that cannot renew its lease stops evaluating well before.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// ShutdownGrace bounds how long executions under way may run after
	// SIGTERM; whatever has not finished by then is handed back to the
	// stream for another replica.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
}

// Defaults.
const (
	DefaultDataDir           = "./data"
	DefaultHTTPListen        = "127.0.0.1:8080"
	DefaultWorkers           = 4
	DefaultMaxAttempts       = 8
	DefaultBackoffInitial    = 2 * time.Second
	DefaultBackoffMax        = 5 * time.Minute
	DefaultIntentTTL         = 10 * time.Minute
	DefaultReconcileInterval = 5 * time.Minute
	DefaultAckWait           = 30 * time.Second
	DefaultProviderTimeout   = 30 * time.Second
	DefaultWriteRate         = 1
	DefaultQueryTimeout      = 10 * time.Second
	DefaultLeaseTTL          = 15 * time.Second
	DefaultShutdownGrace     = 20 * time.Second
	MinLeaseTTL              = 2 * time.Second
)

// ProviderValidator checks one provider type's account (its options).
type ProviderValidator func(providers.Account) error

// LoadOptions are what Load needs beyond the file.
type LoadOptions struct {
	// DataDir overrides nats.embedded.data_dir (the --data-dir flag).
	DataDir string
	// Providers validates each provider type's options, by type name.
	Providers map[string]ProviderValidator
	// Resources lists what each provider type can change, by type name; a
	// policy on a resource its account's type cannot change is an error.
	Resources map[string][]providers.Resource
}

// Load reads, decodes and validates the config file and every policy file
// it names. It returns the config (possibly partial) and every diagnostic;
// the config is usable only when the diagnostics hold no errors.
func Load(path string, opts LoadOptions) (*Config, strictyaml.Diagnostics) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, strictyaml.Diagnostics{{File: path, Msg: fmt.Sprintf("read config: %v", err)}}
	}
	root, diags := strictyaml.Parse(path, data)
	if root == nil {
		return nil, diags
	}
	c := &Config{File: path, root: root}
	d := strictyaml.Decoder{File: path}
	d.Decode(root, "", c)
	c.applyDefaults(opts)
	c.validate(&d, opts)
	all := append(diags, d.Diags...)
	all = append(all, c.loadPolicies(&d, opts)...)
	all.Sort()
	return c, all
}

func (c *Config) applyDefaults(opts LoadOptions) {
	if opts.DataDir != "" {
		c.NATS.Embedded.DataDir = opts.DataDir
	}
	if c.NATS.Embedded.DataDir == "" {
		c.NATS.Embedded.DataDir = DefaultDataDir
	}
	if c.NATS.Embedded.SyncInterval == "" {
		c.NATS.Embedded.SyncInterval = "always"
	}
	if c.NATS.Embedded.MaxMemory == 0 {
		c.NATS.Embedded.MaxMemory = 256 << 20
	}
	if c.NATS.Embedded.MaxStore == 0 {
		c.NATS.Embedded.MaxStore = 10 << 30
	}
	if c.NATS.Replicas == 0 {
		c.NATS.Replicas = 1
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultHTTPListen
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "console"
	}
	for i := range c.Sources {
		if c.Sources[i].Timeout == 0 {
			c.Sources[i].Timeout = DefaultQueryTimeout
		}
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.Timeout == 0 {
			p.Timeout = DefaultProviderTimeout
		}
		if p.WriteRate == 0 {
			p.WriteRate = DefaultWriteRate
		}
		if p.WriteBurst == 0 {
			p.WriteBurst = 1
		}
	}
	if h := c.Hooks.Alertmanager; h != nil && h.MaxBodyBytes == 0 {
		h.MaxBodyBytes = DefaultMaxBodyBytes
	}
	e := &c.Executor
	if e.Workers == 0 {
		e.Workers = DefaultWorkers
	}
	if e.MaxAttempts == 0 {
		e.MaxAttempts = DefaultMaxAttempts
	}
	if e.BackoffInitial == 0 {
		e.BackoffInitial = DefaultBackoffInitial
	}
	if e.BackoffMax == 0 {
		e.BackoffMax = DefaultBackoffMax
	}
	if e.IntentTTL == 0 {
		e.IntentTTL = DefaultIntentTTL
	}
	if e.ReconcileInterval == 0 {
		e.ReconcileInterval = DefaultReconcileInterval
	}
	if e.AckWait == 0 {
		e.AckWait = DefaultAckWait
	}
	if c.Fleet.LeaseTTL == 0 {
		c.Fleet.LeaseTTL = DefaultLeaseTTL
	}
	if c.Fleet.ShutdownGrace == 0 {
		c.Fleet.ShutdownGrace = DefaultShutdownGrace
	}
}

func (c *Config) at(keys ...string) *yaml.Node { return strictyaml.FindOr(c.root, keys...) }

func itemNode(list *yaml.Node, i int) *yaml.Node {
	if list != nil && list.Kind == yaml.SequenceNode && i < len(list.Content) {
		return list.Content[i]
	}
	return list
}

func (c *Config) validate(d *strictyaml.Decoder, opts LoadOptions) {
	if s := c.NATS.Embedded.SyncInterval; s != "always" {
		if _, err := strictyaml.ParseDuration(s); err != nil {
			d.Errorf(c.at("nats", "embedded", "sync_interval"), "nats.embedded.sync_interval", "%q: want always or a duration such as 2m", s)
		}
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		d.Errorf(c.at("nats", "replicas"), "nats.replicas", "%d: want 1 to 5", c.NATS.Replicas)
	}
	if c.NATS.URL == "" && (c.NATS.CredentialsFile != "" || c.NATS.Token != nil) {
		d.Errorf(c.at("nats"), "nats", "credentials_file and token are for an external server: set url too")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.Errorf(c.at("log", "level"), "log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		d.Errorf(c.at("log", "format"), "log.format", "%q: want console or json", c.Log.Format)
	}

	srcList := strictyaml.Find(c.root, "sources")
	seen := map[string]string{}
	for i := range c.Sources {
		s := &c.Sources[i]
		n := itemNode(srcList, i)
		path := fmt.Sprintf("sources[%d]", i)
		field := func(k string) *yaml.Node { return strictyaml.FindOr(n, k) }
		if s.Name == "" {
			d.Errorf(n, path+".name", "required")
		} else if prev, dup := seen[s.Name]; dup {
			d.Errorf(field("name"), path+".name", "source %q is already defined at %s", s.Name, prev)
		} else {
			seen[s.Name] = path
		}
		switch s.Type {
		case SourcePrometheus:
			if s.URL == "" {
				d.Errorf(n, path+".url", "required for a prometheus source")
			}
			if err := s.HTTPConfig.Validate(); err != nil {
				d.Errorf(field("http_config"), path+".http_config", "%v", err)
			}
			for _, in := range inlineSecrets(&s.HTTPConfig) {
				keys := append([]string{"http_config"}, in.keys...)
				d.Errorf(strictyaml.FindOr(n, keys...), path+"."+strings.Join(keys, "."), "%s", in.msg)
			}
		case SourceNATS:
			if s.URL != "" {
				d.Errorf(field("url"), path+".url", "a nats source reads specscale.metrics.<target> on the daemon's own NATS; drop url")
			}
		case "":
			d.Errorf(n, path+".type", "required: prometheus or nats")
		default:
			d.Errorf(field("type"), path+".type", "%q: want prometheus or nats", s.Type)
		}
	}

	provList := strictyaml.Find(c.root, "providers")
	seenP := map[string]string{}
	for i := range c.Providers {
		p := &c.Providers[i]
		n := itemNode(provList, i)
		path := fmt.Sprintf("providers[%d]", i)
		field := func(k string) *yaml.Node { return strictyaml.FindOr(n, k) }
		switch {
		case p.Name == "":
			d.Errorf(n, path+".name", "required")
		case !providers.ValidAccountName(p.Name):
			d.Errorf(field("name"), path+".name", "%q: want lower-case letters, digits and '-'", p.Name)
		default:
			if prev, dup := seenP[p.Name]; dup {
				d.Errorf(field("name"), path+".name", "provider %q is already defined at %s", p.Name, prev)
			}
			seenP[p.Name] = path
		}
		if p.WriteRate < 0 {
			d.Errorf(field("write_rate"), path+".write_rate", "must not be negative")
		}
		if p.BillingCycle.MonthlyDay < 0 || p.BillingCycle.MonthlyDay > 28 {
			d.Errorf(strictyaml.FindOr(n, "billing_cycle", "monthly_day"), path+".billing_cycle.monthly_day", "%d: want 1 to 28", p.BillingCycle.MonthlyDay)
		}
		if p.BillingCycle.MonthlyDay != 0 && p.BillingCycle.FromExpiry {
			d.Errorf(field("billing_cycle"), path+".billing_cycle", "set monthly_day or from_expiry, not both")
		}
		if p.Type == "" {
			d.Errorf(n, path+".type", "required")
			continue
		}
		validate, ok := opts.Providers[p.Type]
		if !ok {
			d.Errorf(field("type"), path+".type", "unknown provider type %q (known: %s)", p.Type, strings.Join(sortedKeys(opts.Providers), ", "))
			continue
		}
		if err := validate(c.Account(i)); err != nil {
			for _, diag := range strictyaml.DiagnosticsOf(c.File, err) {
				if diag.Line == 0 {
					// No position: point at the field the path names, or
					// at its nearest parent in this account.
					at := n
					if rest, ok := strings.CutPrefix(diag.Path, path+"."); ok {
						at = strictyaml.FindOr(n, strings.Split(rest, ".")...)
					}
					diag.Line, diag.Col = at.Line, at.Column
					if diag.Path == "" {
						diag.Path = path
					}
				}
				d.Diags = append(d.Diags, diag)
			}
		}
	}

	if h := c.Hooks.Alertmanager; h != nil {
		if h.Token == nil {
			d.Errorf(c.at("hooks", "alertmanager"), "hooks.alertmanager.token", "required: {env: NAME} or {file: PATH} holding the bearer token Alertmanager sends")
		}
		if h.MaxBodyBytes < 1024 {
			d.Errorf(c.at("hooks", "alertmanager", "max_body_bytes"), "hooks.alertmanager.max_body_bytes", "%d: want at least 1024", h.MaxBodyBytes)
		}
	}
	e := c.Executor
	if e.Workers < 1 {
		d.Errorf(c.at("executor", "workers"), "executor.workers", "want at least 1")
	}
	if e.MaxAttempts < 1 {
		d.Errorf(c.at("executor", "max_attempts"), "executor.max_attempts", "want at least 1")
	}
	if e.AckWait < time.Second {
		d.Errorf(c.at("executor", "ack_wait"), "executor.ack_wait", "want at least 1s")
	}
	if e.BackoffMax < e.BackoffInitial {
		d.Errorf(c.at("executor", "backoff_max"), "executor.backoff_max", "%s is below backoff_initial %s", e.BackoffMax, e.BackoffInitial)
	}
	if c.Fleet.LeaseTTL < MinLeaseTTL {
		d.Errorf(c.at("fleet", "lease_ttl"), "fleet.lease_ttl", "%s: want at least %s", c.Fleet.LeaseTTL, MinLeaseTTL)
	}
	if c.Fleet.ShutdownGrace < time.Second {
		d.Errorf(c.at("fleet", "shutdown_grace"), "fleet.shutdown_grace", "%s: want at least 1s", c.Fleet.ShutdownGrace)
	}
	if len(c.Policies) == 0 {
		d.Errorf(c.root, "policies", "no policy files")
	}
}

// inlineSecret is a secret written into http_config itself.
type inlineSecret struct {
	keys []string
	msg  string
}

func inlineSecrets(h *promcfg.HTTPClientConfig) []inlineSecret {
	var out []inlineSecret
	if h.BasicAuth != nil && h.BasicAuth.Password != "" {
		out = append(out, inlineSecret{[]string{"basic_auth", "password"}, "inline secret: use basic_auth.password_file"})
	}
	if h.Authorization != nil && h.Authorization.Credentials != "" {
		out = append(out, inlineSecret{[]string{"authorization", "credentials"}, "inline secret: use authorization.credentials_file"})
	}
	if h.BearerToken != "" {
		out = append(out, inlineSecret{[]string{"bearer_token"}, "inline secret: use authorization.credentials_file"})
	}
	if h.OAuth2 != nil && h.OAuth2.ClientSecret != "" {
		out = append(out, inlineSecret{[]string{"oauth2", "client_secret"}, "inline secret: use oauth2.client_secret_file"})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Account returns provider i as a providers.Account.
func (c *Config) Account(i int) providers.Account {
	p := c.Providers[i]
	a := providers.Account{
		Name: p.Name, Type: p.Type, Region: p.Region, Endpoint: p.Endpoint,
		Credentials: p.Credentials, Timeout: p.Timeout, File: c.File, Path: fmt.Sprintf("providers[%d]", i),
	}
	if p.Options.Kind != 0 {
		opts := p.Options
		a.Options = &opts
	}
	return a
}

// Provider returns the provider account named name.
func (c *Config) Provider(name string) (*Provider, int) {
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i], i
		}
	}
	return nil, -1
}

// Source returns the metric source named name.
func (c *Config) Source(name string) *Source {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i]
		}
	}
	return nil
}

// loadPolicies expands the policy globs, parses every file and checks each
// policy against the config: its provider account, resource and source.
func (c *Config) loadPolicies(d *strictyaml.Decoder, opts LoadOptions) strictyaml.Diagnostics {
	var diags strictyaml.Diagnostics
	base := filepath.Dir(c.File)
	list := strictyaml.Find(c.root, "policies")
	seenFile := map[string]bool{}
	for i, pattern := range c.Policies {
		n := itemNode(list, i)
		path := fmt.Sprintf("policies[%d]", i)
		full := pattern
		if !filepath.IsAbs(full) {
			full = filepath.Join(base, pattern)
		}
		matches, err := filepath.Glob(full)
		if err != nil {
			diags = append(diags, strictyaml.Diagnostic{File: c.File, Line: n.Line, Col: n.Column, Path: path, Msg: fmt.Sprintf("bad glob %q: %v", pattern, err)})
			continue
		}
		if len(matches) == 0 {
			diags = append(diags, strictyaml.Diagnostic{File: c.File, Line: n.Line, Col: n.Column, Path: path, Msg: fmt.Sprintf("%q matches no file", pattern)})
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			if seenFile[m] {
				continue
			}
			seenFile[m] = true
			c.PolicyFiles = append(c.PolicyFiles, m)
		}
	}
	byName := map[string]*policy.Policy{}
	for _, f := range c.PolicyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			diags = append(diags, strictyaml.Diagnostic{File: f, Msg: fmt.Sprintf("read policy file: %v", err)})
			continue
		}
		ps, pd := policy.Parse(f, data)
		diags = append(diags, pd...)
		for _, p := range ps {
			if prev, dup := byName[p.Name]; dup && p.Name != "" && prev.File != p.File {
				n := p.Position("name")
				diags = append(diags, strictyaml.Diagnostic{File: f, Line: n.Line, Col: n.Column, Path: p.Path + ".name",
					Msg: fmt.Sprintf("policy %q is already defined in %s", p.Name, prev.File)})
			}
			byName[p.Name] = p
			diags = append(diags, c.checkPolicy(p, opts)...)
			c.Loaded = append(c.Loaded, p)
		}
	}
	return diags
}

func (c *Config) checkPolicy(p *policy.Policy, opts LoadOptions) strictyaml.Diagnostics {
	d := strictyaml.Decoder{File: p.File}
	errf := func(keys []string, format string, args ...any) {
		d.Errorf(p.Position(keys...), p.Path+"."+strings.Join(keys, "."), format, args...)
	}
	if p.Targets.Provider != "" {
		if acct, _ := c.Provider(p.Targets.Provider); acct == nil {
			errf([]string{"targets", "provider"}, "no provider account %q in %s (have: %s)", p.Targets.Provider, c.File, strings.Join(c.providerNames(), ", "))
		}
	}
	if r := p.Targets.Resource; r != "" && !providers.IsKnownResource(providers.Resource(r)) {
		errf([]string{"targets", "resource"}, "unknown resource %q", r)
	} else if acct, _ := c.Provider(p.Targets.Provider); acct != nil && r != "" {
		if list, ok := opts.Resources[acct.Type]; ok && !slices.Contains(list, providers.Resource(r)) {
			names := make([]string, len(list))
			for i, x := range list {
				names[i] = string(x)
			}
			errf([]string{"targets", "resource"}, "provider %q (type %s) cannot change %s; it changes %s", acct.Name, acct.Type, r, strings.Join(names, ", "))
		}
	}
	if providers.Resource(p.Targets.Resource) == providers.InstanceType && !p.Named() {
		errf([]string{"ladder"}, "instance_type needs a ladder of {name, value} rungs")
	}
	for i, id := range p.Targets.Instances {
		if !providers.ValidInstanceID(id) {
			list := strictyaml.Find(p.Node, "targets", "instances")
			d.Errorf(itemNode(list, i), fmt.Sprintf("%s.targets.instances[%d]", p.Path, i), "%q: want letters, digits, '-' and '_'", id)
		}
	}
	if src := p.Metric.Source; src != "" {
		s := c.Source(src)
		switch {
		case s == nil:
			errf([]string{"metric", "source"}, "no metric source %q in %s", src, c.File)
		case s.Type == SourcePrometheus && p.Metric.Query == "":
			errf([]string{"metric", "query"}, "required for prometheus source %q", src)
		case s.Type == SourceNATS && p.Metric.Query != "":
			errf([]string{"metric", "query"}, "nats source %q takes no query: samples arrive on specscale.metrics.<target>", src)
		case s.Type != SourcePrometheus && p.Metric.ScrapeJob != "":
			errf([]string{"metric", "scrape_job"}, "only with a prometheus source; %q is of type %s", src, s.Type)
		}
	}
	return d.Diags
}

func (c *Config) providerNames() []string {
	var out []string
	for _, p := range c.Providers {
		out = append(out, p.Name)
	}
	return out
}
