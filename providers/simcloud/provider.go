package simcloud

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/specscale/specscale/providers"
)

// TypeName is the provider type of the simulated cloud in the daemon config.
const TypeName = "simulated"

// Options are the simulated account's settings in the daemon config.
type Options struct {
	// URL of a running `specscale simcloud`; empty runs the cloud in-process.
	URL string `yaml:"url"`
	// StateFile persists the in-process cloud.
	StateFile           string               `yaml:"state_file"`
	Lock                *time.Duration       `yaml:"lock"`
	DowngradesPerCycle  *int                 `yaml:"downgrades_per_cycle"`
	CycleLength         time.Duration        `yaml:"cycle_length"`
	NextCycleDowngrades bool                 `yaml:"next_cycle_downgrades"`
	AsyncDelay          time.Duration        `yaml:"async_delay"`
	Ranges              map[string]RangeYAML `yaml:"ranges"`
	Instances           []InstanceYAML       `yaml:"instances"`
}

// RangeYAML is a value range in the config.
type RangeYAML struct {
	Min float64 `yaml:"min"`
	Max float64 `yaml:"max"`
}

// InstanceYAML declares an instance of the in-process cloud.
type InstanceYAML struct {
	ID        string             `yaml:"id"`
	Status    string             `yaml:"status"`
	Prepaid   bool               `yaml:"prepaid"`
	Temporary bool               `yaml:"temporary"`
	Values    map[string]float64 `yaml:"values"`
	Names     map[string]string  `yaml:"names"`
}

// RulesFrom turns options into rules over the defaults.
func (o Options) RulesFrom() Rules {
	r := DefaultRules()
	if o.Lock != nil {
		r.Lock = *o.Lock
	}
	if o.DowngradesPerCycle != nil {
		r.DowngradesPerCycle = *o.DowngradesPerCycle
	}
	if o.CycleLength > 0 {
		r.CycleLength = o.CycleLength
	}
	r.NextCycleDowngrades = o.NextCycleDowngrades
	r.AsyncDelay = o.AsyncDelay
	for name, rg := range o.Ranges {
		r.Ranges[providers.Resource(name)] = Range(rg)
	}
	return r
}

// Instance converts a declared instance.
func (y InstanceYAML) Instance() Instance {
	in := Instance{ID: y.ID, Status: y.Status, Prepaid: y.Prepaid, Temporary: y.Temporary,
		Values: map[providers.Resource]float64{}, Names: map[providers.Resource]string{}}
	for k, v := range y.Values {
		in.Values[providers.Resource(k)] = v
	}
	for k, v := range y.Names {
		in.Names[providers.Resource(k)] = v
	}
	return in
}

// Capabilities of the simulated cloud under rules r.
func Capabilities(r Rules) providers.Capabilities {
	caps := providers.Capabilities{Type: TypeName, Resources: map[providers.Resource]providers.ResourceCaps{}}
	for _, res := range providers.KnownResources {
		rg := Range{0, 100000}
		if x, ok := r.Ranges[res]; ok {
			rg = x
		}
		rc := providers.ResourceCaps{
			Unit: "units", Min: rg.Min, Max: rg.Max, ChangeLock: r.Lock,
			Downgrade: providers.DowngradeRule{PerCycle: r.DowngradesPerCycle, NextCycle: r.NextCycleDowngrades},
			Temporary: &providers.TemporaryRule{MaxWindow: 180 * 24 * time.Hour, Conditions: "instances declared temporary: true"},
			Async:     r.AsyncDelay > 0, RequiredStatus: []string{"Running"},
		}
		switch res {
		case providers.BandwidthOut, providers.BandwidthIn:
			rc.Unit = "Mbit/s"
		case providers.InstanceType:
			rc.Named = true
		}
		caps.Resources[res] = rc
	}
	return caps
}

// Local is the in-process simulated cloud as a provider.
type Local struct {
	Cloud *Cloud
}

var _ providers.Provider = (*Local)(nil)

// Capabilities implements providers.Provider.
func (l *Local) Capabilities() providers.Capabilities { return Capabilities(l.Cloud.Rules()) }

// wait applies the configured latency and any hang, honouring ctx.
func (l *Local) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d := l.Cloud.latency(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if h := l.Cloud.hangChan(); h != nil {
		select {
		case <-h:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Current implements providers.Provider.
func (l *Local) Current(ctx context.Context, t providers.Target) (providers.Spec, error) {
	if err := l.wait(ctx); err != nil {
		return providers.Spec{}, providers.TransportError(TypeName, "Current", err)
	}
	spec, aerr := l.Cloud.Current(t)
	if aerr != nil {
		return providers.Spec{}, aerr.ToProvider("Current")
	}
	return spec, nil
}

// Apply implements providers.Provider.
func (l *Local) Apply(ctx context.Context, c providers.Change) (providers.Result, error) {
	if err := l.wait(ctx); err != nil {
		return providers.Result{}, providers.TransportError(TypeName, "Apply", err)
	}
	e, aerr := l.Cloud.Apply(c)
	if aerr != nil {
		return providers.Result{}, aerr.ToProvider("Apply")
	}
	return resultOf(e), nil
}

func resultOf(e Entry) providers.Result {
	return providers.Result{Outcome: e.Outcome, OrderID: e.OrderID, RequestID: fmt.Sprintf("SIM-%d", e.Seq)}
}

// Validate checks a simulated account's options.
func Validate(acct providers.Account) error {
	_, err := decodeOptions(acct)
	return err
}

func decodeOptions(acct providers.Account) (Options, error) {
	var o Options
	if err := acct.DecodeOptions(&o); err != nil {
		return o, err
	}
	for i, in := range o.Instances {
		if !providers.ValidInstanceID(in.ID) {
			return o, acct.OptionsError("instances", "instances[%d].id %q: want letters, digits, '-' and '_'", i, in.ID)
		}
		for r := range in.Values {
			if !providers.IsKnownResource(providers.Resource(r)) {
				return o, acct.OptionsError("instances", "instances[%d].values: unknown resource %q", i, r)
			}
		}
	}
	for r := range o.Ranges {
		if !providers.IsKnownResource(providers.Resource(r)) {
			return o, acct.OptionsError("ranges", "unknown resource %q", r)
		}
	}
	if o.URL != "" && (o.StateFile != "" || len(o.Instances) > 0) {
		return o, acct.OptionsError("url", "an external cloud (url) keeps its own state and instances; drop state_file and instances")
	}
	return o, nil
}

// NewProvider builds the simulated account: a client of an external cloud
// when options.url is set, else an in-process cloud with the declared
// instances (added only where the state file does not already hold them).
func NewProvider(ctx context.Context, acct providers.Account, log *zap.Logger) (providers.Provider, error) {
	o, err := decodeOptions(acct)
	if err != nil {
		return nil, err
	}
	if o.URL != "" {
		return NewClient(ctx, o.URL, &http.Client{Timeout: acct.Timeout})
	}
	var opts []Option
	if o.StateFile != "" {
		opts = append(opts, WithStateFile(o.StateFile))
	}
	c, err := New(o.RulesFrom(), opts...)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, in := range c.Instances() {
		have[in.ID] = true
	}
	for _, y := range o.Instances {
		if have[y.ID] {
			continue
		}
		if err := c.Put(y.Instance()); err != nil {
			return nil, err
		}
	}
	log.Info("simulated cloud started in-process", zap.Int("instances", len(o.Instances)))
	return &Local{Cloud: c}, nil
}
