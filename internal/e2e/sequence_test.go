package e2e

import (
	"math/rand/v2"
	"testing"
)

func TestSequenceShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 10000; k++ {
		s := sequence(rng, 10, 3)
		prev, downs := 10.0, 0
		if len(s) != 10 {
			t.Fatal(len(s))
		}
		for _, v := range s {
			if v < 1 || v > 200 || v == prev {
				t.Fatalf("%v", s)
			}
			if v < prev {
				downs++
			}
			prev = v
		}
		if downs > 3 {
			t.Fatalf("%v", s)
		}
	}
}
