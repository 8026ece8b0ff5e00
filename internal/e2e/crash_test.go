package e2e

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/specscale/specscale/providers/simcloud"
)

const (
	fleetTargets     = 200
	intentsPerTarget = 10
	cloudLock        = 300 * time.Millisecond
	cloudDowngrades  = 3
)

// drive publishes intentsPerTarget intents for every target over about
// span, in rounds, while disrupt runs. It returns when both are done.
func drive(t *testing.T, w *world, pub *publisher, span time.Duration, disrupt func(stop <-chan struct{})) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	seqs := make([][]float64, len(w.targets))
	for i := range seqs {
		seqs[i] = sequence(rng, intentsPerTarget, cloudDowngrades)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		disrupt(stop)
	}()
	round := span / intentsPerTarget
	for r := range intentsPerTarget {
		start := time.Now()
		for i, tg := range w.targets {
			if r < len(seqs[i]) {
				pub.publish(tg, seqs[i][r], r)
			}
		}
		if left := round - time.Since(start); left > 0 {
			time.Sleep(left)
		}
	}
	close(stop)
	wg.Wait()
}

// checkLedger checks the simulated cloud against what was published: every
// target at its latest desired value, no intent applied twice or out of
// order, and not one change refused by a lock or the downgrade quota —
// which would mean a guard was broken.
func checkLedger(t *testing.T, w *world, pub *publisher) {
	t.Helper()
	ctx := context.Background()
	want := map[string]float64{}
	for key, in := range pub.latest {
		want[key[len("sim/bandwidth_out/"):]] = in.Value
	}
	var values map[string]float64
	waitFor(t, 3*time.Minute, "every target at its latest desired value", func() bool {
		ins, err := instances(ctx, w)
		if err != nil {
			return false
		}
		values = ins
		for id, v := range want {
			if values[id] != v {
				return false
			}
		}
		return true
	})

	ledger, err := w.cloudAPI.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	last := map[string]int{}
	byInstance := map[string][]simcloud.Entry{}
	for _, e := range ledger {
		if seen[e.Token] {
			t.Errorf("intent %s applied twice", e.Token)
		}
		seen[e.Token] = true
		pos, ok := pub.order[e.Token]
		if !ok {
			t.Errorf("ledger entry %+v has a token no intent carried", e)
			continue
		}
		if prev, ok := last[e.Instance]; ok && pos <= prev {
			t.Errorf("%s: intent at step %d applied after step %d", e.Instance, pos, prev)
		}
		last[e.Instance] = pos
		byInstance[e.Instance] = append(byInstance[e.Instance], e)
	}
	for id, entries := range byInstance {
		sort.Slice(entries, func(i, j int) bool { return entries[i].Seq < entries[j].Seq })
		downs := 0
		for i, e := range entries {
			if e.Downgrade {
				downs++
			}
			if i > 0 && e.At.Sub(entries[i-1].At) < cloudLock {
				t.Errorf("%s: changes %s apart, inside the %s lock", id, e.At.Sub(entries[i-1].At), cloudLock)
			}
		}
		if downs > cloudDowngrades {
			t.Errorf("%s: %d downgrades in one cycle, limit %d", id, downs, cloudDowngrades)
		}
	}
	stats, err := w.cloudAPI.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{simcloud.CodeLocked, simcloud.CodeQuota, simcloud.CodeTokenMismatch} {
		if n := stats.Refused[code]; n != 0 {
			t.Errorf("the cloud refused %d calls with %s: a guard let them through", n, code)
		}
	}
	t.Logf("%d intents published, %d changes applied, %d write calls, %d reads", len(pub.all), len(ledger), stats.Writes, stats.Reads)
}

func instances(ctx context.Context, w *world) (map[string]float64, error) {
	list, err := w.cloudInstances(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, in := range list {
		out[in.ID] = in.Values["bandwidth_out"]
	}
	return out, nil
}

// The crash test: 2,000 intents over 200 targets while the daemon is
// killed with SIGKILL at random moments 20 times and restarted.
func TestCrashes(t *testing.T) {
	w := newWorld(t, worldOptions{targets: fleetTargets, lock: cloudLock, downgrades: cloudDowngrades})
	w.startDaemon()
	pub := newPublisher(w)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	kills := 0
	drive(t, w, pub, 40*time.Second, func(stop <-chan struct{}) {
		for kills < 20 {
			select {
			case <-stop:
			case <-time.After(time.Duration(500+rng.IntN(1500)) * time.Millisecond):
			}
			w.daemon.kill()
			kills++
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			w.daemon.start()
		}
	})
	if kills != 20 {
		t.Fatalf("killed the daemon %d times, want 20", kills)
	}
	checkLedger(t, w, pub)
}

// The NATS restart test: the same checks while the nats-server is killed
// and restarted 5 times.
func TestNATSRestarts(t *testing.T) {
	w := newWorld(t, worldOptions{targets: fleetTargets, lock: cloudLock, downgrades: cloudDowngrades})
	w.startDaemon()
	pub := newPublisher(w)
	restarts := 0
	drive(t, w, pub, 40*time.Second, func(stop <-chan struct{}) {
		for restarts < 5 {
			select {
			case <-stop:
			case <-time.After(5 * time.Second):
			}
			w.nats.kill()
			time.Sleep(500 * time.Millisecond)
			w.nats.start()
			restarts++
		}
	})
	checkLedger(t, w, pub)
}
