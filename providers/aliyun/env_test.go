package aliyun

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/providers"
	"github.com/specscale/specscale/providers/aliyun/ecsfake"
	"github.com/specscale/specscale/providers/simcloud"
)

// Credentials of the test accounts. The secret and token hold characters
// that percent-encoding changes, so that every encoded form of them is
// looked for in the secret-leak test.
const (
	testKeyID  = "LTAI5tFakeKeyId0001"
	testSecret = "s3cr3t/Key+With=Odd*Chars~x"
	testToken  = "CAIS+sts/Token==With Space&Amp*"
)

// setup describes one test account and its fake.
type setup struct {
	signature string // options.signature; "" is v3
	sts       bool   // use a security token
	options   string // extra options YAML lines
	rules     *simcloud.Rules
	// fakeSecret, when set, is the secret the fake holds: a different one
	// makes every signature wrong.
	fakeSecret   string
	fakeNow      func() time.Time
	numericOrder bool
	log          *zap.Logger
}

type env struct {
	fake *ecsfake.Server
	srv  *httptest.Server
	p    *Provider
	acct providers.Account
}

// IDs of the instances every env starts with.
const (
	idPrepaidTraffic   = "i-bp1prepaidtraffic" // subscription, PayByTraffic: up and down, no temporary
	idPrepaidBandwidth = "i-bp1prepaidbw"      // subscription, PayByBandwidth: temporary, 0–200
	idPrepaidEIP       = "i-bp1prepaideip"     // subscription, PayByBandwidth, EIP bound: no temporary
	idPostpaidStopped  = "i-bp1postpaidstop"   // pay-as-you-go, Stopped: instance type changes
	idPostpaidRunning  = "i-bp1postpaidrun"    // pay-as-you-go, Running
	idLocked           = "i-bp1locked"         // locked for security
	idStarting         = "i-bp1starting"       // Starting: no change now
	idMissing          = "i-bp1missing"        // unknown to the fake
)

// fixtures are the instances every env starts with.
func fixtures() []ecsfake.Instance {
	return []ecsfake.Instance{
		{ID: idPrepaidTraffic, Status: "Running", InstanceChargeType: "PrePaid", InternetChargeType: "PayByTraffic",
			InstanceType: "ecs.g6.large", BandwidthOut: 10, BandwidthIn: 10, ExpiredTime: time.Date(2031, 1, 15, 16, 0, 0, 0, time.UTC)},
		{ID: idPrepaidBandwidth, Status: "Running", InstanceChargeType: "PrePaid", InternetChargeType: "PayByBandwidth",
			InstanceType: "ecs.g6.large", BandwidthOut: 20, BandwidthIn: 20, ExpiredTime: time.Date(2031, 2, 1, 0, 0, 0, 0, time.UTC)},
		{ID: idPrepaidEIP, Status: "Running", InstanceChargeType: "PrePaid", InternetChargeType: "PayByBandwidth",
			InstanceType: "ecs.g6.large", BandwidthOut: 5, BandwidthIn: 10, EIP: true, ExpiredTime: time.Date(2031, 2, 1, 0, 0, 0, 0, time.UTC)},
		{ID: idPostpaidStopped, Status: "Stopped", InstanceChargeType: "PostPaid", InternetChargeType: "PayByTraffic",
			InstanceType: "ecs.g6.large", BandwidthOut: 5, BandwidthIn: 10},
		{ID: idPostpaidRunning, Status: "Running", InstanceChargeType: "PostPaid", InternetChargeType: "PayByTraffic",
			InstanceType: "ecs.c6.large", BandwidthOut: 30, BandwidthIn: 30},
		{ID: idLocked, Status: "Running", InstanceChargeType: "PostPaid", InternetChargeType: "PayByTraffic",
			InstanceType: "ecs.c6.large", BandwidthOut: 5, BandwidthIn: 10, LockReasons: []string{"security"}},
		{ID: idStarting, Status: "Starting", InstanceChargeType: "PostPaid", InternetChargeType: "PayByTraffic",
			InstanceType: "ecs.c6.large", BandwidthOut: 5, BandwidthIn: 10},
	}
}

func target(r providers.Resource, id string) providers.Target {
	return providers.Target{Account: "ali", Resource: r, Instance: id}
}

func writeSecret(t *testing.T, dir, name, value string) providers.SecretRef {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return providers.SecretRef{File: path}
}

// optionsNode parses the options mapping of an account.
func optionsNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	if strings.TrimSpace(src) == "" {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("options YAML: %v", err)
	}
	return doc.Content[0]
}

func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	rules := s.rules
	if rules == nil {
		r := simcloud.DefaultRules()
		rules = &r
	}
	fakeSecret := testSecret
	if s.fakeSecret != "" {
		fakeSecret = s.fakeSecret
	}
	key := ecsfake.Key{AccessKeyID: testKeyID, AccessKeySecret: fakeSecret}
	if s.sts {
		key.SecurityToken = testToken
	}
	fake, err := ecsfake.New(ecsfake.Config{Region: "cn-shanghai", Keys: []ecsfake.Key{key}, Rules: rules,
		Now: s.fakeNow, NumericOrderID: s.numericOrder})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range fixtures() {
		if err := fake.Put(in); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	creds := map[string]providers.SecretRef{
		CredAccessKeyID:     writeSecret(t, dir, "id", testKeyID),
		CredAccessKeySecret: writeSecret(t, dir, "secret", testSecret),
	}
	if s.sts {
		creds[CredSecurityToken] = writeSecret(t, dir, "token", testToken)
	}
	opts := s.options
	if s.signature != "" {
		opts += "\nsignature: " + s.signature
	}
	acct := providers.Account{Name: "ali", Type: TypeName, Region: "cn-shanghai", Endpoint: srv.URL,
		Credentials: creds, Timeout: 5 * time.Second, Options: optionsNode(t, opts), File: "specscale.yaml", Path: "providers[0]"}
	log := s.log
	if log == nil {
		log = zap.NewNop()
	}
	p, err := New(context.Background(), acct, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{fake: fake, srv: srv, p: p, acct: acct}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// writes counts the write calls the fake received.
func (e *env) writes() int {
	n := 0
	for _, c := range e.fake.Calls() {
		if c.Action != "DescribeInstances" {
			n++
		}
	}
	return n
}
