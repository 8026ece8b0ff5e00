package scaler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// TestHelperDaemon is not a test: it is the daemon process that
// TestBoostSurvivesDaemonKill starts, and SIGKILLs, from this test binary.
// Run normally, it does nothing. Its sweep for missed ends runs only at
// start-up, so that an end on time can only come from the durable timer.
func TestHelperDaemon(t *testing.T) {
	cfg := os.Getenv("SPECSCALE_HELPER_CONFIG")
	if cfg == "" {
		return
	}
	log, _ := zap.NewDevelopment()
	d, err := scaler.New(scaler.Options{ConfigPath: cfg, Log: log, Replica: "helper", BoostSweep: time.Hour})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper daemon:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "helper daemon:", err)
		os.Exit(2)
	}
}

// daemonProcess is a daemon running in its own process.
type daemonProcess struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

func startDaemonProcess(t *testing.T, cfg, httpAddr string) *daemonProcess {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPECSCALE_HELPER_CONFIG="+cfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dp := &daemonProcess{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(dp.done)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := testHTTP.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return dp
			}
		}
		select {
		case <-dp.done:
			t.Fatalf("daemon process exited before ready:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			dp.kill(t)
			t.Fatalf("daemon process not ready in 60s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL: no shutdown, no draining.
func (dp *daemonProcess) kill(t *testing.T) {
	t.Helper()
	_ = dp.cmd.Process.Signal(syscall.SIGKILL)
	<-dp.done
}

// stop ends the process with SIGTERM and waits.
func (dp *daemonProcess) stop(t *testing.T) {
	t.Helper()
	_ = dp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-dp.done:
	case <-time.After(60 * time.Second):
		dp.kill(t)
		t.Errorf("daemon process did not stop on SIGTERM within 60s")
	}
}

// A daemon SIGKILLed in the middle of a boost and restarted on the same
// data dir still reverts it on time: the end is a JetStream message
// schedule in the file store, not a timer in the dead process. And a boost
// whose end passes while no daemon runs is reverted as soon as one starts.
func TestBoostSurvivesDaemonKill(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	cloud := newCloud(t, 0, twoInstances()...)
	srv := httptest.NewServer(simcloud.NewServer(cloud))
	defer srv.Close()
	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	files := boostFiles(dir, `
      - name: surge
        matchers: ['alertname="TrafficSurge"']
        targets: {label: instance}
        to: 2x
        for: 8s
      - name: blip
        matchers: ['alertname="Blip"']
        targets: {label: instance}
        to: 3x
        for: 2s
`)
	files["specscale.yaml"] = fmt.Sprintf(`
http: {listen: %q}
log: {level: debug}
nats:
  embedded: {data_dir: %q, listen: %q}
hooks:
  alertmanager:
    token: {file: %q}
providers:
  - name: sim
    type: simulated
    write_rate: 100
    options: {url: %q}
executor: {workers: 2, backoff_initial: 100ms, backoff_max: 1s}
policies: [policies.yaml]
`, httpAddr, filepath.Join(dir, "data"), natsAddr, filepath.Join(dir, "token"), srv.URL)
	writeFiles(t, dir, files)
	cfg := filepath.Join(dir, "specscale.yaml")
	hook := "http://" + httpAddr + scaler.AlertmanagerPath

	boost := func(alertname, instance string) time.Time {
		t.Helper()
		code, body := post(t, hook, testToken, notification(scaler.StatusFiring,
			alert(scaler.StatusFiring, alertname+"-"+instance, time.Now(), "alertname", alertname, "instance", instance)))
		if code != http.StatusOK {
			t.Fatalf("webhook: %d %s", code, body)
		}
		var res scaler.NotificationResult
		if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Boosts) != 1 || res.Boosts[0].Outcome != scaler.BoostStarted {
			t.Fatalf("webhook answer %s (%v), want one started boost", body, err)
		}
		return res.Boosts[0].Until
	}

	dp := startDaemonProcess(t, cfg, httpAddr)
	defer func() {
		select {
		case <-dp.done:
		default:
			dp.kill(t) // the test failed half-way
		}
		if t.Failed() {
			t.Logf("daemon output:\n%s", dp.out.String())
		}
	}()

	// web-2: killed a second into an 8s boost, restarted at once.
	until := boost("TrafficSurge", "web-2")
	waitFor(t, 20*time.Second, "web-2 boosted to 20", func() bool { return valueOf(cloud, "web-2") == 20 })
	dp.kill(t)
	if !time.Now().Before(until.Add(-3 * time.Second)) {
		t.Fatalf("too slow: the kill came within 3s of the boost's end %s", until)
	}
	dp = startDaemonProcess(t, cfg, httpAddr)
	waitFor(t, 30*time.Second, "web-2 reverted to 9", func() bool { return valueOf(cloud, "web-2") == 9 })
	l := ledgerFor(cloud, "web-2")
	if len(l) != 2 || l[0].To != 20 || l[1].To != 9 {
		t.Fatalf("web-2 ledger = %+v, want 10 → 20 → 9", l)
	}
	if late := l[1].At.Sub(until); late < 0 || late > 3*time.Second {
		t.Errorf("web-2 reverted %s after its boost's end %s; want within 3s after", late, until.Format(time.RFC3339Nano))
	}

	// web-1: the daemon is down when a 2s boost ends; the next start
	// reverts it at once.
	until = boost("Blip", "web-1")
	waitFor(t, 20*time.Second, "web-1 boosted to 30", func() bool { return valueOf(cloud, "web-1") == 30 })
	dp.kill(t)
	time.Sleep(time.Until(until) + 2*time.Second)
	if v := valueOf(cloud, "web-1"); v != 30 {
		t.Fatalf("web-1 at %g while no daemon ran, want still 30", v)
	}
	restarted := time.Now()
	dp = startDaemonProcess(t, cfg, httpAddr)
	waitFor(t, 30*time.Second, "web-1 reverted to 9", func() bool { return valueOf(cloud, "web-1") == 9 })
	l = ledgerFor(cloud, "web-1")
	if len(l) != 2 || l[1].To != 9 {
		t.Fatalf("web-1 ledger = %+v, want 10 → 30 → 9", l)
	}
	if late := l[1].At.Sub(restarted); late > 10*time.Second {
		t.Errorf("web-1 reverted %s after the restart; want promptly", late)
	}
	dp.stop(t)
}
