// Package e2e holds the fault tests that run specscale as it runs in
// production: the daemon as a subprocess, an external nats-server built from
// the pinned nats-server/v2 module, and the simulated cloud as its own
// process, so that any of them can be killed without the others losing
// their memory.
package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds specscale and nats-server once per test run. nats-server
// comes from the nats-server/v2 version go.mod pins.
func binaries(t testing.TB) (specscale, natsServer string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "specscale-e2e-bin-")
		if binErr != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{
			{"specscale", "github.com/specscale/specscale/cmd/specscale"},
			{"nats-server", "github.com/nats-io/nats-server/v2"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b.out), b.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "specscale"), filepath.Join(binDir, "nats-server")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a subprocess that can be killed and started again with the same
// arguments.
type proc struct {
	t    *testing.T
	name string
	bin  string
	args []string
	log  *os.File
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func newProc(t *testing.T, dir, name, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, bin: bin, args: args, log: f}
	t.Cleanup(func() {
		p.kill()
		f.Close()
		if t.Failed() {
			if keep := os.Getenv("SPECSCALE_E2E_KEEP"); keep != "" {
				_ = os.MkdirAll(keep, 0o755)
				if b, err := os.ReadFile(f.Name()); err == nil {
					_ = os.WriteFile(filepath.Join(keep, t.Name()+"-"+name+".log"), b, 0o644)
				}
			}
			if b, err := os.ReadFile(f.Name()); err == nil {
				tail := b
				if len(tail) > 8000 {
					tail = tail[len(tail)-8000:]
				}
				t.Logf("last output of %s:\n%s", name, tail)
			}
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	fmt.Fprintf(p.log, "=== started pid %d at %s\n", cmd.Process.Pid, time.Now().Format(time.RFC3339Nano))
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	fmt.Fprintf(p.log, "=== killed at %s\n", time.Now().Format(time.RFC3339Nano))
	p.cmd = nil
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// world is one nats-server, one simulated cloud and one daemon, each a
// process of its own.
type world struct {
	t        *testing.T
	dir      string
	natsURL  string
	nats     *proc
	cloud    *proc
	daemon   *proc
	cloudAPI *simcloud.Client
	nc       *nats.Conn
	js       jetstream.JetStream
	targets  []providers.Target
}

type worldOptions struct {
	targets    int
	lock       time.Duration
	downgrades int
	latency    time.Duration
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	specscaleBin, natsBin := binaries(t)
	dir := t.TempDir()
	w := &world{t: t, dir: dir}

	natsPort := freePort(t)
	w.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	w.nats = newProc(t, dir, "nats-server", natsBin, "-js", "-a", "127.0.0.1", "-p", fmt.Sprint(natsPort),
		"-sd", filepath.Join(dir, "jetstream"), "--server_name", "e2e")
	w.nats.start()

	cloudAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w.cloud = newProc(t, dir, "simcloud", specscaleBin, "simcloud", "--listen", cloudAddr,
		"--state", filepath.Join(dir, "cloud.json"), "--lock", o.lock.String(), "--downgrades-per-cycle", fmt.Sprint(o.downgrades))
	w.cloud.start()
	var err error
	waitFor(t, 30*time.Second, "the simulated cloud", func() bool {
		w.cloudAPI, err = simcloud.NewClient(context.Background(), "http://"+cloudAddr, nil)
		return err == nil
	})
	ctx := context.Background()
	var instances string
	for i := range o.targets {
		id := fmt.Sprintf("vm-%03d", i)
		instances += id + ", "
		if err := w.cloudAPI.PutInstance(ctx, simcloud.Instance{ID: id, Prepaid: true,
			Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}); err != nil {
			t.Fatal(err)
		}
		w.targets = append(w.targets, providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: id})
	}
	if o.latency > 0 {
		if err := w.cloudAPI.SetFaults(ctx, simcloud.Faults{Latency: o.latency}); err != nil {
			t.Fatal(err)
		}
	}

	cfg := fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
log: {level: info, format: json}
nats: {url: %q}
sources:
  - {name: pushed, type: nats}
providers:
  - name: sim
    type: simulated
    write_rate: 1000
    write_burst: 50
    timeout: 5s
    options: {url: "http://%s"}
executor:
  workers: 8
  max_attempts: 8
  backoff_initial: 50ms
  backoff_max: 500ms
  ack_wait: 3s
  intent_ttl: 10m
  reconcile_interval: 2s
policies: [policies.yaml]
`, w.natsURL, cloudAddr)
	pol := fmt.Sprintf(`
policies:
  - name: fleet
    targets: {provider: sim, resource: bandwidth_out, instances: [%s]}
    metric: {source: pushed}
    evaluation_interval: 1h
    min: 1
    max: 200
    up:   {threshold: 0.8, for: 1m, step: 10}
    down: {threshold: 0.2, for: 1h}
`, instances[:len(instances)-2])
	if err := os.WriteFile(filepath.Join(dir, "specscale.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	w.daemon = newProc(t, dir, "specscale", specscaleBin, "run", "--config", filepath.Join(dir, "specscale.yaml"))

	waitFor(t, 30*time.Second, "nats-server", func() bool {
		nc, err := nats.Connect(w.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			return false
		}
		w.nc = nc
		return true
	})
	t.Cleanup(w.nc.Close)
	w.js, err = jetstream.New(w.nc)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// startDaemon starts the daemon and waits until its streams exist.
func (w *world) startDaemon() {
	w.t.Helper()
	w.daemon.start()
	waitFor(w.t, 60*time.Second, "the daemon's streams", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := w.js.Stream(ctx, scaler.IntentStream)
		return err == nil
	})
}

// publisher drives intents: manual intents for the fleet policy, as an
// operator tool or another system would publish them.
type publisher struct {
	w      *world
	mu     sync.Mutex
	order  map[string]int // intent ID → position in its target's sequence
	latest map[string]*scaler.Intent
	all    []*scaler.Intent
}

func newPublisher(w *world) *publisher {
	return &publisher{w: w, order: map[string]int{}, latest: map[string]*scaler.Intent{}}
}

// publish publishes an intent, retrying until JetStream has stored it (the
// NATS server may be restarting).
func (p *publisher) publish(t providers.Target, value float64, seq int) {
	now := time.Now()
	in := &scaler.Intent{
		ID: scaler.IntentID(t, scaler.KindManual, value, "", now), Target: t, Value: value, Kind: scaler.KindManual,
		Policy: "fleet", Reason: fmt.Sprintf("e2e step %d", seq), CreatedAt: now, NotAfter: now.Add(10 * time.Minute),
	}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := scaler.PublishIntent(ctx, p.w.js, in)
		cancel()
		if err == nil {
			break
		}
		if attempt > 100 {
			p.w.t.Errorf("publish intent %s: %v", in.ID, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.mu.Lock()
	p.order[in.ID] = seq
	p.latest[t.Key()] = in
	p.all = append(p.all, in)
	p.mu.Unlock()
}

// sequence returns n values from 10, each within 1–200, with at most
// maxDown descents, so the downgrade quota can never stop the last value
// from being reached (a subsequence has no more descents than the
// sequence). Each value leaves room for the rises after it.
func sequence(rng *rand.Rand, n, maxDown int) []float64 {
	out := make([]float64, n)
	prev, downs := 10, 0
	for i := range out {
		ceiling := 200 - (n - i - 1) // room for one rise per step left
		var v int
		if downs < maxDown && prev > 1 && rng.IntN(2) == 0 {
			v = 1 + rng.IntN(min(prev-1, ceiling))
			downs++
		} else {
			v = prev + 1 + rng.IntN(ceiling-prev)
		}
		out[i], prev = float64(v), v
	}
	return out
}

func (w *world) cloudInstances(ctx context.Context) ([]simcloud.Instance, error) {
	return w.cloudAPI.Instances(ctx)
}
