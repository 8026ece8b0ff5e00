package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func run(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	code := 0
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		errOut.WriteString(err.Error())
		code = 1
	}
	return out.String(), errOut.String(), code
}

func TestValidateReportsEveryProblem(t *testing.T) {
	out, _, code := run("validate", "--config", "testdata/broken/specscale.yaml")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	want := strings.Join([]string{
		`testdata/broken/policies.yaml:6:41: warning: policies[0].up.step: one step up (300%) from utilisation 0.5 lands at 0.125, below down.threshold 0.2: the policy will flap`,
		`testdata/broken/policies.yaml:7:37: policies[0].down.stabilisation: unknown field (did you mean "stabilization"?)`,
		`testdata/broken/policies.yaml:9:25: policies[1].targets.provider: no provider account "nope" in testdata/broken/specscale.yaml (have: sim, ali)`,
		`testdata/broken/policies.yaml:10:22: policies[1].metric.source: no metric source "prom" in testdata/broken/specscale.yaml`,
		`testdata/broken/policies.yaml:11:10: policies[1].max: 10 is below min 20`,
		`testdata/broken/policies.yaml:13:21: policies[1].up.threshold: 0.8 must be above down.threshold 0.9 (the dead band between them stops flapping)`,
		`testdata/broken/policies.yaml:16:40: policies[2].targets.resource: provider "ali" (type aliyun) cannot change aad_basic_qps; it changes bandwidth_in, bandwidth_out, instance_type`,
		`testdata/broken/specscale.yaml:1:34: http.port: unknown field`,
		`testdata/broken/specscale.yaml:5:17: providers[0].write_rate: must not be negative`,
	}, "\n") + "\n"
	if out != want {
		t.Errorf("validate printed:\n%s\nwant:\n%s", out, want)
	}
}

// A config with only warnings is valid: exit 0, the warning marked.
func TestValidateAcceptsAConfigWithWarnings(t *testing.T) {
	out, errOut, code := run("validate", "--config", "testdata/valid/specscale.yaml")
	if code != 0 {
		t.Fatalf("exit code = %d; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	want := "testdata/valid/policies.yaml:6:41: warning: policies[0].up.step: one step up (400%) from utilisation 0.8 lands at 0.16, below down.threshold 0.3: the policy will flap\n" +
		"testdata/valid/specscale.yaml: valid (1 policy files, 1 policies)\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := run("version")
	if code != 0 || out != "specscale dev\n" {
		t.Errorf("version: %q (exit %d)", out, code)
	}
}
