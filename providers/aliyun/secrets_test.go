package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/aliyun/ecsfake"
)

// secretForms are the ways a secret can appear in text: as is, and encoded
// the ways the wire and the string to sign encode it.
func secretForms(s string) []string {
	pe := ecsfake.PercentEncode(s)
	return []string{s, url.QueryEscape(s), url.PathEscape(s), pe, ecsfake.PercentEncode(pe), url.QueryEscape(url.QueryEscape(s))}
}

// leaks returns the secret forms found in text.
func leaks(text string) []string {
	var found []string
	for _, secret := range []string{testSecret, testToken} {
		for _, f := range secretForms(secret) {
			if strings.Contains(text, f) {
				found = append(found, f)
			}
		}
	}
	return found
}

func logText(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&b, "%s %s %v\n", e.Level, e.Message, e.ContextMap())
	}
	return b.String()
}

// TestNoSecretInErrorsOrLogs makes calls fail where ECS (and the fake)
// quote the string to sign, which holds the security token, and where the
// transport fails on a V1 URL that carries it; neither the error strings nor
// the logs may hold the secret or the token in any encoding.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	for _, sig := range []string{SignatureV3, SignatureV2} {
		t.Run("signature mismatch "+sig, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			e := newEnv(t, setup{signature: sig, sts: true, fakeSecret: "another-secret", log: zap.New(core)})
			_, err := e.p.Apply(ctxT(t), providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "t"})
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Code != "SignatureDoesNotMatch" || pe.Class != providers.ClassAccount {
				t.Fatalf("err = %v, want account SignatureDoesNotMatch", err)
			}
			// The fake quoted the string to sign; the token in it was cut.
			if !strings.Contains(pe.Message, "server string to sign is:") || !strings.Contains(pe.Message, "[REDACTED]") {
				t.Errorf("message %q: want the quoted string to sign, redacted", pe.Message)
			}
			if found := leaks(err.Error()); len(found) > 0 {
				t.Errorf("error string holds %q: %s", found, err)
			}
			if logs.Len() == 0 {
				t.Fatal("no logs captured")
			}
			if found := leaks(logText(logs)); len(found) > 0 {
				t.Errorf("logs hold %q:\n%s", found, logText(logs))
			}
		})
		t.Run("transport failure "+sig, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close() // nothing listens there now
			core, logs := observer.New(zapcore.DebugLevel)
			e := newEnv(t, setup{signature: sig, sts: true, log: zap.New(core)})
			acct := e.acct
			acct.Endpoint = "http://" + addr
			p, err := New(context.Background(), acct, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Apply(ctxT(t), providers.Change{Target: target(providers.BandwidthOut, idPrepaidTraffic), Value: 30, Token: "t"})
			if providers.ClassOf(err) != providers.ClassUnknown || !strings.Contains(err.Error(), addr) {
				t.Fatalf("err = %v, want an unknown-outcome transport error naming %s", err, addr)
			}
			if found := leaks(err.Error()); len(found) > 0 {
				t.Errorf("error string holds %q: %s", found, err)
			}
			if found := leaks(logText(logs)); len(found) > 0 {
				t.Errorf("logs hold %q:\n%s", found, logText(logs))
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	r := newRedactor(testSecret, testToken, "")
	for _, s := range []string{testSecret, testToken} {
		for _, f := range secretForms(s) {
			text := "before " + f + " after"
			if got := r.clean(text); got != "before [REDACTED] after" {
				t.Errorf("clean(%q) = %q", text, got)
			}
		}
	}
	if got := r.clean("nothing here"); got != "nothing here" {
		t.Errorf("clean changed clean text: %q", got)
	}
}

// TestDebugEnvRefused: the SDK's DEBUG output prints requests with the
// security token; New refuses to start with it when a token is set.
func TestDebugEnvRefused(t *testing.T) {
	e := newEnv(t, setup{sts: true})
	t.Setenv("DEBUG", "sdk,dara")
	_, err := New(context.Background(), e.acct, nil)
	want := `provider "ali": the environment sets DEBUG=dara or DEBUG=tea, which makes the Alibaba SDK print every request, security token included, to standard output; unset it`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	acct := e.acct
	delete(acct.Credentials, CredSecurityToken)
	if _, err := New(context.Background(), acct, nil); err != nil {
		t.Errorf("without a token: %v", err)
	}
}

// TestAccountTimeout: the account timeout bounds a call whose context has
// none left to give.
func TestAccountTimeout(t *testing.T) {
	e := newEnv(t, setup{})
	acct := e.acct
	acct.Timeout = 300 * time.Millisecond
	p, err := New(context.Background(), acct, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := e.fake.Hang()
	defer release()
	start := time.Now()
	_, err = p.Current(context.Background(), target(providers.BandwidthOut, idPrepaidTraffic))
	if !errors.Is(err, context.DeadlineExceeded) || providers.ClassOf(err) != providers.ClassUnknown {
		t.Errorf("err = %v, want unknown wrapping context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s, want about 300ms", took)
	}
}

// TestConcurrent runs reads and writes at once (for the race detector).
func TestConcurrent(t *testing.T) {
	e := newEnv(t, setup{})
	ids := []string{idPrepaidTraffic, idPrepaidBandwidth, idPostpaidRunning, idPostpaidStopped}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ids[i%len(ids)]
			for j := 0; j < 5; j++ {
				if _, err := e.p.Current(context.Background(), target(providers.BandwidthOut, id)); err != nil {
					errs <- err
				}
			}
			if i < len(ids) {
				c := providers.Change{Target: target(providers.BandwidthOut, id), Value: 40, Token: fmt.Sprint("c", i)}
				if _, err := e.p.Apply(context.Background(), c); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.fake.Changes(); got != len(ids) {
		t.Errorf("changes = %d, want %d", got, len(ids))
	}
}
