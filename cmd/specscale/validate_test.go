package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func runValidate(t *testing.T, config string, now time.Time) (string, error) {
	t.Helper()
	cmd := newValidateCmdAt(func() time.Time { return now })
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--config", config})
	err := cmd.Execute()
	return out.String(), err
}

// validate rejects a bad cron spec or time zone at its file:line:col, and
// still shows the next fires of the schedules that are fine.
func TestValidateSchedules(t *testing.T) {
	now := time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC) // a Friday
	tests := []struct {
		name   string
		config string
		want   []string
		code   int
	}{
		{
			name:   "bad spec and zones",
			config: "testdata/broken.yaml",
			want: []string{
				`testdata/broken-policies.yaml:10:48: policies[0].schedules[0].end: invalid cron spec "0 7 * *": expected 5 to 6 fields, found 4: [0 7 * *]`,
				`testdata/broken-policies.yaml:11:27: policies[0].schedules[1].at: "TZ=UTC": a time zone prefix needs a schedule after it, such as "TZ=UTC 0 1 * * *"`,
				`testdata/broken-policies.yaml:12:60: policies[0].schedules[2].timezone: unknown time zone "Europe/Atlantis"`,
				`testdata/broken-policies.yaml:13:9: info: policies[0].schedules[3]: policy "web" schedule "weekly" (set 50, Asia/Shanghai): next Mon 2026-11-02 06:00:00 CST; Mon 2026-11-09 06:00:00 CST; Mon 2026-11-16 06:00:00 CST`,
			},
			code: 1,
		},
		{
			name:   "next fires and daylight saving",
			config: "testdata/good.yaml",
			want: []string{
				`testdata/good-policies.yaml:10:9: info: policies[0].schedules[0]: policy "web" schedule "night" (window max 10, America/New_York): next Sat 2026-10-31 01:30:00 EDT until 07:00:00 EDT; Sun 2026-11-01 01:30:00 EDT until 07:00:00 EST; Mon 2026-11-02 01:30:00 EST until 07:00:00 EST`,
				`testdata/good-policies.yaml:10:9: info: policies[0].schedules[0]: on 2026-11-01 clocks fall back in America/New_York: 01:30:00 happens twice and the spec fires once, the first time`,
				`testdata/good.yaml: valid (1 policy files, 1 policies)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runValidate(t, tt.config, now)
			var ee *exitError
			switch {
			case tt.code == 0 && err != nil:
				t.Fatalf("validate failed: %v\n%s", err, out)
			case tt.code != 0 && (!errors.As(err, &ee) || ee.code != tt.code):
				t.Fatalf("validate returned %v, want exit %d\n%s", err, tt.code, out)
			}
			if got := strings.TrimRight(out, "\n"); got != strings.Join(tt.want, "\n") {
				t.Errorf("output:\n%s\n\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// The example configs pass validate with neither error nor warning.
func TestValidateExamples(t *testing.T) {
	for _, config := range []string{"../../deploy/examples/quickstart.yaml", "../../deploy/examples/schedules.yaml"} {
		t.Run(config, func(t *testing.T) {
			out, err := runValidate(t, config, time.Now())
			if err != nil {
				t.Fatalf("validate: %v\n%s", err, out)
			}
			if strings.Contains(out, "warning:") || !strings.HasSuffix(out, "valid (1 policy files, 2 policies)\n") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
}
