package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

func runCLI(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String() + errOut.String(), err
}

// `specscale boost` asks the running daemon over NATS; the daemon applies
// the policy's rules and the cloud follows.
func TestBoostCommand(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	cfg := filepath.Join(dir, "specscale.yaml")
	files := map[string]string{
		cfg: fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
nats:
  embedded: {data_dir: %q, listen: "127.0.0.1:0"}
providers:
  - {name: sim, type: simulated, write_rate: 100}
policies: [policies.yaml]
`, filepath.Join(dir, "data")),
		filepath.Join(dir, "policies.yaml"): `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {synthetic: {base: 5}}
    evaluation_interval: 1s
    min: 5
    max: 100
    up:   {threshold: 0.8, step: 100%}
    down: {threshold: 0.4, for: 1h}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rules := simcloud.DefaultRules()
	rules.Lock = 0
	cloud, err := simcloud.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Put(simcloud.Instance{ID: "web-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}); err != nil {
		t.Fatal(err)
	}
	d, err := scaler.New(scaler.Options{ConfigPath: cfg, Log: zaptest.NewLogger(t), Replica: "test",
		Providers: map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("daemon not ready")
	}
	url := d.NATSURL()
	value := func() float64 { return cloud.Instances()[0].Values[providers.BandwidthOut] }
	waitValue := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for value() != want {
			if time.Now().After(deadline) {
				t.Fatalf("web-1 at %g, want %g", value(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	out, err := runCLI("boost", "--nats", url, "--target", "sim/bandwidth_out/web-1", "--to", "2x", "--for", "1h", "--reason", "launch")
	if err != nil || !strings.Contains(out, "sim/bandwidth_out/web-1: boost started: 20 until ") || !strings.Contains(out, "the daemon reverts it") {
		t.Fatalf("boost: %v\n%s", err, out)
	}
	waitValue(20)

	out, err = runCLI("boost", "--nats", url, "--target", "sim/bandwidth_out/web-1", "--to", "150", "--for", "1h", "--reason", "too far")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, `boost refused: 150 is above policy "web"'s max 100`) {
		t.Fatalf("boost above max: %v\n%s", err, out)
	}

	out, err = runCLI("boost", "--nats", url, "--target", "sim/bandwidth_out/nope", "--to", "50", "--for", "1h", "--reason", "x")
	if !errors.As(err, &ee) || !strings.Contains(out, "boost refused: no loaded policy owns sim/bandwidth_out/nope") {
		t.Fatalf("boost of an unknown target: %v\n%s", err, out)
	}

	out, err = runCLI("boost", "--nats", url, "--target", "sim/bandwidth_out/web-1", "--to", "50")
	if err == nil || err.Error() != "--to, --for and --reason are required (or --cancel)" {
		t.Fatalf("missing flags: %v\n%s", err, out)
	}

	out, err = runCLI("boost", "--nats", url, "--cancel", "--target", "sim/bandwidth_out/web-1")
	if err != nil || !strings.Contains(out, "sim/bandwidth_out/web-1: boost ended_early: ") {
		t.Fatalf("cancel: %v\n%s", err, out)
	}
	// The policy wants 9 for the metric now (5 ÷ 0.6, rounded up).
	waitValue(9)
	out, err = runCLI("boost", "--nats", url, "--cancel", "--target", "sim/bandwidth_out/web-1")
	if err != nil || !strings.Contains(out, "no active boost") {
		t.Fatalf("second cancel: %v\n%s", err, out)
	}
}

func TestBoostCommandWithoutDaemon(t *testing.T) {
	_, err := runCLI("boost", "--nats", "nats://127.0.0.1:1", "--target", "sim/bandwidth_out/web-1", "--cancel")
	if err == nil || !strings.HasPrefix(err.Error(), "connect to nats://127.0.0.1:1: ") {
		t.Fatalf("err = %v", err)
	}
}
