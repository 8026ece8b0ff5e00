// Package providertest is the conformance suite every provider adapter, and
// the simulated cloud, must pass. An adapter's test builds a Harness around a
// fake of its API and calls Run.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
)

// Harness is one provider under test with a fake of its API behind it. Each
// call of the constructor given to Run returns a fresh fake.
type Harness struct {
	Provider providers.Provider
	// Up is a valid upgrade of an existing, ready target (Token is set by
	// the suite).
	Up providers.Change
	// Down is a valid immediate downgrade of Up.Target from Up's value, or
	// nil when the provider cannot lower the resource; then the suite checks
	// that the capabilities say so and that Apply refuses a downgrade with
	// ErrInvalid before any call.
	Down *providers.Change
	// Missing names an instance the fake does not know.
	Missing providers.Target
	// Inject makes the fake answer the next write call with a documented
	// error of class c. It returns false when the API documents no error of
	// that class.
	Inject func(c providers.Class) bool
	// Changes returns how many changes the fake has made (accepted writes
	// that changed something).
	Changes func() int
	// Hang makes every request block until the client gives up; the
	// returned func ends the hang.
	Hang func() (release func())
	// WithTimeout returns another provider on the same fake whose own
	// per-call timeout (the account's timeout setting) is d, so that the
	// suite can check it bounds a call whose context has no deadline. Nil
	// only for a provider that makes no call of its own to bound (the
	// in-process simulated cloud).
	WithTimeout func(d time.Duration) providers.Provider
}

// Classes that an API may document, each checked through Inject.
var injectable = []providers.Class{
	providers.ClassRetryLater, providers.ClassInProgress, providers.ClassCooldown,
	providers.ClassQuota, providers.ClassStatus, providers.ClassInvalid,
	providers.ClassNotFound, providers.ClassAccount,
}

var sentinels = map[providers.Class]error{
	providers.ClassUnknown:    providers.ErrUnknownOutcome,
	providers.ClassRetryLater: providers.ErrRetryLater,
	providers.ClassInProgress: providers.ErrInProgress,
	providers.ClassCooldown:   providers.ErrCooldown,
	providers.ClassQuota:      providers.ErrQuota,
	providers.ClassStatus:     providers.ErrStatus,
	providers.ClassInvalid:    providers.ErrInvalid,
	providers.ClassNotFound:   providers.ErrNotFound,
	providers.ClassAccount:    providers.ErrAccount,
}

// Sentinel returns the sentinel error of class c.
func Sentinel(c providers.Class) error { return sentinels[c] }

func token(t *testing.T, suffix string) string {
	return fmt.Sprintf("conformance-%d-%s", time.Now().UnixNano(), suffix)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// valueOf reads the value Current reports for the change's target, taking a
// pending asynchronous change as the value it will become.
func valueOf(t *testing.T, p providers.Provider, target providers.Target) (float64, string) {
	t.Helper()
	spec, err := p.Current(ctx(t), target)
	if err != nil {
		t.Fatalf("Current(%s): %v", target, err)
	}
	if spec.Pending != nil && spec.Pending.State == providers.Processing {
		return spec.Pending.Value, spec.Pending.Name
	}
	return spec.Value, spec.Name
}

func same(c providers.Change, v float64, name string) bool {
	if c.Name != "" {
		return c.Name == name
	}
	return c.Value == v
}

// Run runs the suite.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	t.Run("Capabilities", func(t *testing.T) {
		h := newHarness(t)
		caps := h.Provider.Capabilities()
		if caps.Type == "" {
			t.Error("Capabilities().Type is empty")
		}
		rc, ok := caps.Resource(h.Up.Target.Resource)
		if !ok {
			t.Fatalf("Capabilities() lacks %s, the resource of Up", h.Up.Target.Resource)
		}
		if !rc.Named && rc.Max < rc.Min {
			t.Errorf("%s: Max %v below Min %v", h.Up.Target.Resource, rc.Max, rc.Min)
		}
		if h.Down == nil && !rc.Downgrade.UpgradeOnly {
			t.Errorf("harness has no Down but %s is not declared UpgradeOnly", h.Up.Target.Resource)
		}
	})

	t.Run("CurrentAndApply", func(t *testing.T) {
		h := newHarness(t)
		p := h.Provider
		if v, name := valueOf(t, p, h.Up.Target); same(h.Up, v, name) {
			t.Fatalf("target already at the Up value %v %q", v, name)
		}
		c := h.Up
		c.Token = token(t, "up")
		res, err := p.Apply(ctx(t), c)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if res.Outcome != providers.Applied && res.Outcome != providers.Processing {
			t.Fatalf("Apply outcome = %q, want applied or processing", res.Outcome)
		}
		if v, name := valueOf(t, p, h.Up.Target); !same(h.Up, v, name) {
			t.Errorf("after Apply, Current = %v %q, want %v %q", v, name, h.Up.Value, h.Up.Name)
		}
		if got := h.Changes(); got != 1 {
			t.Errorf("changes = %d, want 1", got)
		}
	})

	t.Run("ReapplySameToken", func(t *testing.T) {
		h := newHarness(t)
		c := h.Up
		c.Token = token(t, "again")
		first, err := h.Provider.Apply(ctx(t), c)
		if err != nil {
			t.Fatalf("first Apply: %v", err)
		}
		second, err := h.Provider.Apply(ctx(t), c)
		if err != nil {
			t.Fatalf("second Apply with the same token: %v", err)
		}
		if got := h.Changes(); got != 1 {
			t.Errorf("changes after two Applies with one token = %d, want 1", got)
		}
		if first.OrderID != "" && second.OrderID != first.OrderID {
			t.Errorf("second OrderID = %q, want the first %q", second.OrderID, first.OrderID)
		}
	})

	t.Run("Downgrade", func(t *testing.T) {
		h := newHarness(t)
		up := h.Up
		up.Token = token(t, "up")
		if _, err := h.Provider.Apply(ctx(t), up); err != nil {
			t.Fatalf("Apply up: %v", err)
		}
		if h.Down != nil {
			down := *h.Down
			down.Token = token(t, "down")
			if _, err := h.Provider.Apply(ctx(t), down); err != nil {
				t.Fatalf("Apply down: %v", err)
			}
			return
		}
		before := h.Changes()
		down := h.Up
		down.Value = h.Up.Value / 2
		down.Token = token(t, "down")
		_, err := h.Provider.Apply(ctx(t), down)
		if !errors.Is(err, providers.ErrInvalid) {
			t.Fatalf("downgrade on an upgrade-only provider: err = %v, want ErrInvalid", err)
		}
		// A read to learn the current value is allowed; a write is not.
		if got := h.Changes(); got != before {
			t.Errorf("refused downgrade changed something: changes %d -> %d", before, got)
		}
	})

	t.Run("ErrorClasses", func(t *testing.T) {
		for _, class := range injectable {
			t.Run(class.String(), func(t *testing.T) {
				h := newHarness(t)
				if !h.Inject(class) {
					t.Skipf("the API documents no %s error", class)
				}
				c := h.Up
				c.Token = token(t, class.String())
				_, err := h.Provider.Apply(ctx(t), c)
				if err == nil {
					t.Fatalf("Apply succeeded, want a %s error", class)
				}
				if got := providers.ClassOf(err); got != class {
					t.Errorf("ClassOf(%v) = %s, want %s", err, got, class)
				}
				if !errors.Is(err, Sentinel(class)) {
					t.Errorf("errors.Is(err, sentinel %s) = false for %v", class, err)
				}
				var pe *providers.Error
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *providers.Error", err)
				}
				if pe.Code == "" {
					t.Errorf("error keeps no provider code: %v", err)
				}
				if h.Changes() != 0 {
					t.Errorf("a failed Apply made %d changes", h.Changes())
				}
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.Provider.Current(ctx(t), h.Missing)
		if !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("Current(missing) err = %v, want ErrNotFound", err)
		}
		c := h.Up
		c.Target = h.Missing
		c.Token = token(t, "missing")
		_, err = h.Provider.Apply(ctx(t), c)
		if !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("Apply(missing) err = %v, want ErrNotFound", err)
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		h := newHarness(t)
		cctx, cancel := context.WithCancel(context.Background())
		cancel()
		c := h.Up
		c.Token = token(t, "cancelled")
		_, err := h.Provider.Apply(cctx, c)
		if err == nil {
			t.Fatal("Apply with a cancelled context succeeded")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want it to wrap context.Canceled", err)
		}
		if got := providers.ClassOf(err); got != providers.ClassUnknown {
			t.Errorf("class = %s, want unknown", got)
		}
		if h.Changes() != 0 {
			t.Errorf("a cancelled Apply made %d changes", h.Changes())
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		h := newHarness(t)
		release := h.Hang()
		defer release()
		tctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		c := h.Up
		c.Token = token(t, "timeout")
		_, err := h.Provider.Apply(tctx, c)
		if err == nil {
			t.Fatal("Apply against a hung API succeeded")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
		if got := providers.ClassOf(err); got != providers.ClassUnknown {
			t.Errorf("class = %s, want unknown (the request may have reached the provider)", got)
		}
		_, err = h.Provider.Current(tctx, h.Up.Target)
		if err == nil {
			t.Error("Current against a hung API succeeded")
		}
	})

	// Every cloud call has a timeout even when the caller's context has
	// none: the account's own.
	t.Run("AccountTimeout", func(t *testing.T) {
		h := newHarness(t)
		if h.WithTimeout == nil {
			t.Skip("the provider makes no call of its own to bound")
		}
		const own = 300 * time.Millisecond
		p := h.WithTimeout(own)
		release := h.Hang()
		defer release()
		c := h.Up
		c.Token = token(t, "own-timeout")
		for name, call := range map[string]func() error{
			"Apply":   func() error { _, err := p.Apply(context.Background(), c); return err },
			"Current": func() error { _, err := p.Current(context.Background(), h.Up.Target); return err },
		} {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if err == nil {
				t.Fatalf("%s against a hung API with no deadline succeeded", name)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: err = %v, want it to wrap context.DeadlineExceeded", name, err)
			}
			if got := providers.ClassOf(err); got != providers.ClassUnknown {
				t.Errorf("%s: class = %s, want unknown", name, got)
			}
			if took > 10*own {
				t.Errorf("%s took %s with an account timeout of %s", name, took, own)
			}
		}
		if h.Changes() != 0 {
			t.Errorf("a timed-out Apply made %d changes", h.Changes())
		}
	})
}
