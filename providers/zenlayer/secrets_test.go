package zenlayer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/specscale/specscale/providers"
)

// Failing calls — a signature the API rejects, an API refusal, a timeout, a
// refused connection — leave the password, and the Authorization header it
// signed, out of every log entry and error string, at debug level.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	const wrongPassword = "wrong-Gu5t9xGARNpq86cd98joQYCN3-secret"
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)

	f := newFake(t, serviceVM, fakeRules(0))
	f.addVM("vm-1", "c.1c2g", 10, false)
	badSig := newTestProvider(t, f, wrongPassword, log)
	good := newTestProvider(t, f, fakePassword, log)

	var errs []error
	_, err := badSig.Apply(ctxT(t), providers.Change{Target: bw("vm-1"), Value: 20, Token: "t"})
	if !errors.Is(err, providers.ErrAccount) {
		t.Fatalf("Apply with the wrong password: %v, want ErrAccount", err)
	}
	errs = append(errs, err)
	_, err = badSig.Current(ctxT(t), typ("vm-1"))
	errs = append(errs, err)

	f.injectNext(fakeAnswer{403, CodeBandwidthProcessing, "Bandwidth is being modified.", ""})
	_, err = good.Apply(ctxT(t), providers.Change{Target: bw("vm-1"), Value: 30, Token: "u"})
	errs = append(errs, err)

	release := f.Hang()
	tctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = good.Apply(tctx, providers.Change{Target: bw("vm-1"), Value: 40, Token: "v"})
	cancel()
	release()
	errs = append(errs, err)

	gone := newFake(t, serviceVM, fakeRules(0))
	dead := newTestProvider(t, gone, fakePassword, log)
	gone.srv.Close()
	_, err = dead.Current(ctxT(t), bw("vm-1"))
	errs = append(errs, err)

	// The Authorization headers the fake received, so that a logged
	// signature would be found too.
	var secrets = []string{wrongPassword, fakePassword}
	f.mu.Lock()
	for _, r := range f.requests {
		secrets = append(secrets, r.Headers.Get("Authorization"))
	}
	f.mu.Unlock()

	var texts []string
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d succeeded, want a failure", i)
			continue
		}
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		var pe *providers.Error
		if errors.As(err, &pe) {
			texts = append(texts, fmt.Sprintf("%#v", *pe))
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no log entries captured; the test would prove nothing")
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, buf.String())
		buf.Free()
	}
	for _, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("secret %.12q… found in %q", s, text)
			}
		}
	}
}
