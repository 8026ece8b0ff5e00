package scaler_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/simcloud"
	"github.com/specscale/specscale/scaler"
)

// testHTTP keeps no idle connections, which goleak would count.
var testHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// alertmanagerBinary is Debian's prometheus-alertmanager, which
// scripts/test installs. The end-to-end test fails without it.
const alertmanagerBinary = "/usr/bin/prometheus-alertmanager"

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// lockedBuffer collects a subprocess's output for the failure message.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startAlertmanager runs a real Alertmanager on loopback, sending every
// alert to the daemon's webhook with the token from tokenFile. DDoS alerts
// repeat every 3s; surge alerts never within the test. Call stop (before
// goleak looks) to end it.
func startAlertmanager(t *testing.T, dir, webhookURL, tokenFile string) (string, func()) {
	t.Helper()
	if _, err := os.Stat(alertmanagerBinary); err != nil {
		t.Fatalf("%s is missing (Debian package prometheus-alertmanager; scripts/test installs it): %v", alertmanagerBinary, err)
	}
	cfg := fmt.Sprintf(`
route:
  receiver: specscale
  group_by: [alertname, instance]
  group_wait: 500ms
  group_interval: 1s
  repeat_interval: 3s
  routes:
    - matchers: ['alertname="TrafficSurge"']
      receiver: specscale
      repeat_interval: 1h
receivers:
  - name: specscale
    webhook_configs:
      - url: %q
        send_resolved: true
        http_config:
          authorization:
            credentials_file: %q
`, webhookURL, tokenFile)
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	out := &lockedBuffer{}
	cmd := exec.Command(alertmanagerBinary,
		"--config.file="+cfgFile,
		"--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=debug")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	stop := sync.OnceFunc(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	t.Cleanup(stop)
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := testHTTP.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("alertmanager not ready in 30s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return base, stop
}

// postAlert posts one alert to Alertmanager's API v2; a past endsAt
// resolves it.
func postAlert(t *testing.T, am string, labels map[string]string, endsAt time.Time) {
	t.Helper()
	a := map[string]any{"labels": labels, "startsAt": time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)}
	if !endsAt.IsZero() {
		delete(a, "startsAt")
		a["endsAt"] = endsAt.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal([]any{a})
	resp, err := testHTTP.Post(am+"/api/v2/alerts", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post alert to alertmanager: %s", resp.Status)
	}
}

// A real Alertmanager drives boosts end to end: a DDoS alert posted to
// its API boosts web-1 to the policy's max in the simulated cloud; its
// repeats extend the boost (one change, not several); its resolve ends it
// early and web-1 goes to what the policy wants now. A surge alert boosts
// web-2 for 3s, and expiry reverts it.
func TestAlertmanagerEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeFiles(t, dir, boostFiles(dir, defaultRules))
	cloud := newCloud(t, 0, twoInstances()...)
	td := startDaemon(t, filepath.Join(dir, "specscale.yaml"), map[string]providers.Provider{"sim": &simcloud.Local{Cloud: cloud}})
	defer td.stop(t)
	nc, err := nats.Connect(td.d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	el := watchEvents(t, nc)
	defer el.sub.Unsubscribe()

	am, stopAM := startAlertmanager(t, dir, "http://"+td.d.HTTPAddr()+scaler.AlertmanagerPath, filepath.Join(dir, "token"))
	defer stopAM()
	const web1, web2 = "sim/bandwidth_out/web-1", "sim/bandwidth_out/web-2"

	ddos := map[string]string{"alertname": "DDoSSuspected", "severity": "page", "instance": "web-1"}
	postAlert(t, am, ddos, time.Time{})
	waitFor(t, 20*time.Second, "web-1 boosted to 100", func() bool { return valueOf(cloud, "web-1") == 100 })
	// The boost lasts 6s; Alertmanager repeats every 3s, so it stays up
	// well past 6s, extended, never stacked.
	waitFor(t, 20*time.Second, "two boost_extended events", func() bool { return el.count(scaler.EventBoostExtended, web1) >= 2 })
	st := state(t, td.d, web1)
	if st.Boost == nil || st.Boost.Value != 100 || len(st.Boost.Triggers) != 1 {
		t.Fatalf("boost after repeats = %+v, want one trigger at 100", st.Boost)
	}
	if since := time.Since(st.Boost.Started); since < 6*time.Second {
		t.Logf("boost started %s ago", since)
	}
	if l := ledgerFor(cloud, "web-1"); len(l) != 1 {
		t.Fatalf("web-1 ledger = %+v, want one change", l)
	}

	// The resolve ends it early: web-1 goes to what the policy wants for
	// the metric now (9), not back to the 10 it had.
	postAlert(t, am, ddos, time.Now().Add(-time.Millisecond))
	waitFor(t, 20*time.Second, "web-1 reverted to 9", func() bool { return valueOf(cloud, "web-1") == 9 })
	waitFor(t, 5*time.Second, "boost_ended_early", func() bool { return el.count(scaler.EventBoostEndedEarly, web1) == 1 })
	if e := el.find(scaler.EventBoostEndedEarly, "resolved"); e == nil || e.Target != web1 {
		t.Errorf("boost_ended_early event = %+v", e)
	}

	// A surge alert boosts web-2 for 3s; nothing repeats it in time, so
	// the boost expires and the daemon reverts it.
	postAlert(t, am, map[string]string{"alertname": "TrafficSurge", "instance": "lb-1"}, time.Time{})
	waitFor(t, 20*time.Second, "web-2 boosted to 20", func() bool { return valueOf(cloud, "web-2") == 20 })
	st = state(t, td.d, web2)
	if st.Boost == nil {
		t.Fatal("no boost recorded for web-2")
	}
	until := st.Boost.Until
	waitFor(t, 20*time.Second, "web-2 reverted to 9", func() bool { return valueOf(cloud, "web-2") == 9 })
	l := ledgerFor(cloud, "web-2")
	if len(l) != 2 || l[0].To != 20 || l[1].To != 9 {
		t.Fatalf("web-2 ledger = %+v, want 10 → 20 → 9", l)
	}
	if late := l[1].At.Sub(until); late < 0 || late > 3*time.Second {
		t.Errorf("web-2 reverted %s after its boost's end; want within 3s", late)
	}
	waitFor(t, 5*time.Second, "boost_reverted", func() bool { return el.count(scaler.EventBoostReverted, web2) == 1 })
	if n := el.count(scaler.EventBoostRefused, ""); n != 0 {
		t.Errorf("%d boost_refused events", n)
	}
}
