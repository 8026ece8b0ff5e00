package simcloud

import (
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
)

// A token is honoured for TokenMemory and forgotten after it, whether or
// not the periodic walk has dropped it yet.
func TestTokensAreForgottenAfterTokenMemory(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	c, err := New(Rules{TokenMemory: time.Hour}, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(Instance{ID: "i-1", Values: map[providers.Resource]float64{providers.BandwidthOut: 10}}); err != nil {
		t.Fatal(err)
	}
	target := providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: "i-1"}
	apply := func(v float64) (Entry, *APIError) {
		return c.Apply(providers.Change{Target: target, Value: v, Token: "tok"})
	}
	first, aerr := apply(20)
	if aerr != nil {
		t.Fatal(aerr)
	}
	clk.t = clk.t.Add(59 * time.Minute)
	if again, aerr := apply(20); aerr != nil || again.Seq != first.Seq {
		t.Fatalf("a retry inside the token memory = %+v, %v; want the first entry again", again, aerr)
	}
	if _, aerr := apply(30); aerr == nil || aerr.Code != CodeTokenMismatch {
		t.Fatalf("the token with other parameters = %v, want %s", aerr, CodeTokenMismatch)
	}
	// Past the memory: a new change under the old token. The walk ran at
	// 59 minutes, so it has not dropped the token yet; Apply still must
	// not honour it.
	clk.t = clk.t.Add(2 * time.Minute)
	e, aerr := apply(30)
	if aerr != nil || e.Seq == first.Seq || e.To != 30 {
		t.Fatalf("the token after its memory = %+v, %v; want a new change to 30", e, aerr)
	}
	if n := len(c.Ledger()); n != 2 {
		t.Errorf("ledger has %d entries, want 2", n)
	}
}
