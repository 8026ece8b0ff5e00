package policy

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York and friends on hosts without zoneinfo
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// parseOne parses a file holding one policy and fails on any diagnostic.
func parseOne(t *testing.T, src string) *Policy {
	t.Helper()
	ps, diags := Parse("p.yaml", []byte(src))
	if len(diags) != 0 {
		t.Fatalf("diagnostics:\n%s", diags)
	}
	return ps[0]
}

func TestParseSchedulesGood(t *testing.T) {
	data, err := os.ReadFile("testdata/schedules-good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps, diags := Parse("testdata/schedules-good.yaml", data)
	if len(diags) != 0 {
		t.Fatalf("diagnostics on a good file:\n%s", diags)
	}
	web, vm := ps[0], ps[1]
	tests := []struct {
		s        *Schedule
		kind     ScheduleKind
		zone     string
		describe string
		catchUp  string
	}{
		{web.Schedules[0], ScheduleWindow, "Asia/Shanghai", "window max 10", ""},
		{web.Schedules[1], ScheduleWindow, "Europe/Berlin", "window min 80 for 4h0m0s", ""},
		{web.Schedules[2], ScheduleSet, "UTC", "set 50, catch_up latest", CatchUpLatest},
		{vm.Schedules[0], ScheduleWindow, "UTC", "window max small", ""},
		{vm.Schedules[1], ScheduleSet, "America/New_York", "set medium", CatchUpNone},
	}
	for _, tt := range tests {
		s := tt.s
		if s.Kind != tt.kind || !s.Compiled() || s.Location().String() != tt.zone || s.Describe() != tt.describe || s.CatchUp != tt.catchUp {
			t.Errorf("%s: kind %s compiled %v zone %s describe %q catch_up %q; want %s %s %q %q",
				s.Name, s.Kind, s.Compiled(), s.Location(), s.Describe(), s.CatchUp, tt.kind, tt.zone, tt.describe, tt.catchUp)
		}
	}
	// The end of night-cap has no prefix: it is read in the start's zone.
	if got := web.Schedules[0].end.Location.String(); got != "Asia/Shanghai" {
		t.Errorf("night-cap end zone = %s, want the start's, Asia/Shanghai", got)
	}
	// Rung names resolve to their values.
	if vm.Schedules[0].Max.Number != 1000 || vm.Schedules[1].Set.Number != 2000 {
		t.Errorf("rung names resolved to max %v, set %v; want 1000 and 2000", vm.Schedules[0].Max.Number, vm.Schedules[1].Set.Number)
	}
}

func TestParseSchedulesBrokenReportsEverything(t *testing.T) {
	data, err := os.ReadFile("testdata/schedules-broken.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps, diags := Parse("testdata/schedules-broken.yaml", data)
	want := []string{
		`testdata/schedules-broken.yaml:10:28: policies[0].schedules[0].at: invalid cron spec "0 1 * *": expected 5 to 6 fields, found 4: [0 1 * *]`,
		`testdata/schedules-broken.yaml:11:30: policies[0].schedules[1].at: "TZ=UTC": a time zone prefix needs a schedule after it, such as "TZ=UTC 0 1 * * *"`,
		`testdata/schedules-broken.yaml:12:79: policies[0].schedules[2].timezone: unknown time zone "Mars/Olympus"`,
		`testdata/schedules-broken.yaml:13:32: policies[0].schedules[3].at: "CRON_TZ=Atlantis/Capital 0 1 * * *": unknown time zone "Atlantis/Capital"`,
		`testdata/schedules-broken.yaml:14:27: policies[0].schedules[4].at: "@every 10m": @every has no fixed fire times, so missed fires and windows cannot be worked out after a restart; use a cron spec such as "*/10 * * * *"`,
		`testdata/schedules-broken.yaml:15:31: policies[0].schedules[5].at: "CRON_TZ=Asia/Tokyo 0 1 * * *": the spec's zone Asia/Tokyo disagrees with timezone Europe/Paris: set it in one place`,
		`testdata/schedules-broken.yaml:16:30: policies[0].schedules[6].start: cron spec "0 0 30 2 *" never fires`,
		`testdata/schedules-broken.yaml:17:27: policies[0].schedules[7].at: invalid cron spec "61 1 * * *": end of range (61) above maximum (59): 61`,
		`testdata/schedules-broken.yaml:18:58: policies[0].schedules[8].duration: a schedule is either a one-shot set (at, set) or a window (start, end or duration, min, max), not both`,
		`testdata/schedules-broken.yaml:19:31: policies[0].schedules[9].start: a window needs an end (a cron spec) or a duration`,
		`testdata/schedules-broken.yaml:20:74: policies[0].schedules[10].duration: set either end or duration, not both`,
		`testdata/schedules-broken.yaml:21:48: policies[0].schedules[11].set: 500 lies outside min 20 and max 100 and every window's bounds: it could never be applied`,
		`testdata/schedules-broken.yaml:22:59: policies[0].schedules[12].catch_up: "all": want none or latest`,
		`testdata/schedules-broken.yaml:23:83: policies[0].schedules[13].catch_up: windows take no catch_up: a window active at start-up is applied whatever happened while specscale was down`,
		`testdata/schedules-broken.yaml:24:16: policies[0].schedules[14].name: schedule "fields" is already defined at policies[0].schedules[0]`,
		`testdata/schedules-broken.yaml:24:72: policies[0].schedules[14].max: 30 is below min 60`,
		`testdata/schedules-broken.yaml:25:16: policies[0].schedules[15].name: "No Caps": want lower-case letters, digits, '-' and '_'`,
		`testdata/schedules-broken.yaml:25:32: policies[0].schedules[15].start: a window needs min, max or both`,
		`testdata/schedules-broken.yaml:26:73: policies[0].schedules[16].end: the end's zone Europe/Paris differs from the start's zone Asia/Tokyo: a window is read in one zone`,
		`testdata/schedules-broken.yaml:27:9: policies[0].schedules[17]: want a one-shot set (at and set) or a window (start, then end or duration, with min and/or max)`,
		`testdata/schedules-broken.yaml:28:59: policies[0].schedules[18].timezone: time zone "Local" depends on the host: name a zone such as Asia/Shanghai or UTC`,
		`testdata/schedules-broken.yaml:38:44: policies[1].schedules[0].set: "huge" is not a rung of the ladder (have: small, large)`,
		`testdata/schedules-broken.yaml:39:47: policies[1].schedules[1].set: 1200 is not a rung of the ladder`,
		`testdata/schedules-broken.yaml:40:60: policies[1].schedules[2].max: "tiny" is not a rung of the ladder (have: small, large)`,
	}
	if got := diags.String(); got != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\n\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	// A schedule with an error is not compiled: it never moves a bound
	// or fires.
	for _, p := range ps {
		for _, s := range p.Schedules {
			if s.Compiled() {
				t.Errorf("%s: compiled despite its errors", s.Path)
			}
		}
	}
}

func TestParseCron(t *testing.T) {
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		spec, zone string
		want       []string // the first fires after from, in the spec's zone
		err        string
	}{
		{spec: "0 1 * * *", want: []string{"2026-06-01 01:00:00 UTC", "2026-06-02 01:00:00 UTC"}},
		{spec: "@daily", zone: "Asia/Shanghai", want: []string{"2026-06-02 00:00:00 CST", "2026-06-03 00:00:00 CST"}},
		{spec: "CRON_TZ=Asia/Shanghai 30 7 * * 1-5", want: []string{"2026-06-02 07:30:00 CST", "2026-06-03 07:30:00 CST"}},
		{spec: "TZ=Asia/Shanghai @hourly", want: []string{"2026-06-01 09:00:00 CST", "2026-06-01 10:00:00 CST"}},
		{spec: "  CRON_TZ=UTC   0 1 * * *  ", zone: "UTC", want: []string{"2026-06-01 01:00:00 UTC", "2026-06-02 01:00:00 UTC"}},
		// Six fields: a leading seconds field.
		{spec: "15 0 1 * * *", want: []string{"2026-06-01 01:00:15 UTC", "2026-06-02 01:00:15 UTC"}},
		{spec: "", err: `required: a cron spec such as "0 1 * * *" or @daily`},
		{spec: "TZ=UTC", err: `"TZ=UTC": a time zone prefix needs a schedule after it, such as "TZ=UTC 0 1 * * *"`},
		{spec: "CRON_TZ=UTC ", err: `"CRON_TZ=UTC": a time zone prefix needs a schedule after it, such as "CRON_TZ=UTC 0 1 * * *"`},
		{spec: "CRON_TZ=", err: `"CRON_TZ=": a time zone prefix needs a schedule after it, such as "CRON_TZ= 0 1 * * *"`},
		{spec: "CRON_TZ=UTC TZ=UTC", err: `"CRON_TZ=UTC TZ=UTC": the time zone is given twice`},
		{spec: "CRON_TZ=UTC TZ=UTC 0 1 * * *", err: `"CRON_TZ=UTC TZ=UTC 0 1 * * *": the time zone is given twice`},
		{spec: "CRON_TZ=Nowhere/Land 0 1 * * *", err: `"CRON_TZ=Nowhere/Land 0 1 * * *": unknown time zone "Nowhere/Land"`},
		{spec: "0 1 * * *", zone: "Nowhere/Land", err: `"0 1 * * *": unknown time zone "Nowhere/Land"`},
		{spec: "@every 1h", err: `"@every 1h": @every has no fixed fire times, so missed fires and windows cannot be worked out after a restart; use a cron spec such as "*/10 * * * *"`},
		{spec: "@fortnightly", err: `invalid cron spec "@fortnightly": unrecognized descriptor: @fortnightly`},
		{spec: "0 1 * * * * *", err: `invalid cron spec "0 1 * * * * *": expected 5 to 6 fields, found 7: [0 1 * * * * *]`},
		{spec: "0 25 * * *", err: `invalid cron spec "0 25 * * *": end of range (25) above maximum (23): 25`},
		{spec: "0 0 31 4 *", err: `cron spec "0 0 31 4 *" never fires`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			c, err := ParseCron(tt.spec, tt.zone)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range c.NextN(from, len(tt.want)) {
				got = append(got, f.In(c.Location).Format("2006-01-02 15:04:05 MST"))
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("fires = %v, want %v", got, tt.want)
			}
		})
	}
}

// Daylight saving in America/New_York, 2026: clocks spring forward at
// 02:00 EST on Sunday 8 March (02:00–02:59 does not exist) and fall back
// at 02:00 EDT on Sunday 1 November (01:00–01:59 happens twice).
func TestCronAcrossDST(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	at := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, ny) }
	tests := []struct {
		name     string
		spec     string
		from, to time.Time
		want     []string
	}{
		{
			name: "a daily 02:30 is skipped on spring-forward day",
			spec: "30 2 * * *", from: at(3, 7, 0, 0), to: at(3, 10, 0, 0),
			want: []string{"03-07 02:30 EST", "03-09 02:30 EDT"},
		},
		{
			name: "a daily 02:30 fires once on fall-back day",
			spec: "30 2 * * *", from: at(10, 31, 12, 0), to: at(11, 2, 0, 0),
			want: []string{"11-01 02:30 EST"},
		},
		{
			name: "a named range of hours skips the missing 02:00 on spring-forward day",
			spec: "0 1-3 * * *", from: at(3, 8, 0, 0), to: at(3, 8, 4, 0),
			want: []string{"03-08 01:00 EST", "03-08 03:00 EDT"},
		},
		{
			name: "a daily 01:30 fires once on fall-back day, at the first 01:30 (EDT)",
			spec: "30 1 * * *", from: at(10, 31, 0, 0), to: at(11, 3, 0, 0),
			want: []string{"10-31 01:30 EDT", "11-01 01:30 EDT", "11-02 01:30 EST"},
		},
		{
			name: "a daily 01:30 is untouched on spring-forward day",
			spec: "30 1 * * *", from: at(3, 7, 12, 0), to: at(3, 9, 12, 0),
			want: []string{"03-08 01:30 EST", "03-09 01:30 EDT"},
		},
		{
			name: "an hourly spec follows real time across spring forward",
			spec: "30 * * * *", from: at(3, 8, 0, 0), to: at(3, 8, 4, 0),
			want: []string{"03-08 00:30 EST", "03-08 01:30 EST", "03-08 03:30 EDT"},
		},
		{
			name: "an hourly spec fires in both passes through the repeated hour",
			spec: "30 * * * *", from: at(11, 1, 0, 0), to: at(11, 1, 3, 0),
			want: []string{"11-01 00:30 EDT", "11-01 01:30 EDT", "11-01 01:30 EST", "11-01 02:30 EST"},
		},
		{
			name: "a named range of hours fires once per wall time on fall-back day",
			spec: "0 1-3 * * *", from: at(11, 1, 0, 0), to: at(11, 1, 4, 0),
			want: []string{"11-01 01:00 EDT", "11-01 02:00 EST", "11-01 03:00 EST"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCron(tt.spec, "America/New_York")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			c.Between(tt.from, tt.to, func(f time.Time) bool {
				got = append(got, f.In(ny).Format("01-02 15:04 MST"))
				return true
			})
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("fires = %v, want %v", got, tt.want)
			}
			// Latest agrees with Between from the other end.
			if len(got) > 0 {
				l, ok := c.Latest(tt.to, 48*time.Hour)
				if !ok || l.In(ny).Format("01-02 15:04 MST") != got[len(got)-1] {
					t.Errorf("Latest(%v) = %v, %v; want %s", tt.to, l.In(ny), ok, got[len(got)-1])
				}
			}
		})
	}
}

func TestCronDSTNotes(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(1, 0, 0)
	tests := []struct {
		spec, zone string
		want       []string
	}{
		{"30 2 * * *", "America/New_York", []string{"on 2026-03-08 clocks spring forward in America/New_York: 02:30:00 does not exist, so that fire is skipped"}},
		{"30 1 * * *", "America/New_York", []string{"on 2026-11-01 clocks fall back in America/New_York: 01:30:00 happens twice and the spec fires once, the first time"}},
		{"0 * * * *", "America/New_York", []string{"on 2026-11-01 clocks fall back in America/New_York: 01:00:00 happens twice and the spec fires in both"}},
		{"0 4 * * *", "America/New_York", nil},
		{"30 2 * * 1-5", "America/New_York", nil}, // 8 March 2026 is a Sunday
		{"30 1 * * *", "Asia/Shanghai", nil},
		{"30 2 * * *", "UTC", nil},
	}
	for _, tt := range tests {
		c, err := ParseCron(tt.spec, tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.DSTNotes(from, to); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s in %s: notes = %q, want %q", tt.spec, tt.zone, got, tt.want)
		}
	}
}

// Windows read in America/New_York across both transitions: an end spec
// is a wall-clock time, a duration is real time.
func TestWindowAcrossDST(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	at := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, ny) }
	// The repeated 01:45 on fall-back day, read at EST (the second pass).
	est145 := time.Date(2026, 11, 1, 6, 45, 0, 0, time.UTC)
	tests := []struct {
		name   string
		window string // the schedule's YAML
		t      time.Time
		active bool
		start  string
		end    string
		length time.Duration
	}{
		{"01:00–07:00 on spring-forward day lasts 5 real hours", `{start: "0 1 * * *", end: "0 7 * * *"}`, at(3, 8, 6, 59), true, "03-08 01:00 EST", "03-08 07:00 EDT", 5 * time.Hour},
		{"01:00–07:00 ends at 07:00 EDT", `{start: "0 1 * * *", end: "0 7 * * *"}`, at(3, 8, 7, 0), false, "", "", 0},
		{"01:00–07:00 on fall-back day lasts 7 real hours", `{start: "0 1 * * *", end: "0 7 * * *"}`, at(11, 1, 6, 30), true, "11-01 01:00 EDT", "11-01 07:00 EST", 7 * time.Hour},
		{"01:00 for 6h on spring-forward day ends at 08:00 EDT", `{start: "0 1 * * *", duration: 6h}`, at(3, 8, 7, 30), true, "03-08 01:00 EST", "03-08 08:00 EDT", 6 * time.Hour},
		{"01:00 for 6h on fall-back day ends at 06:00 EST", `{start: "0 1 * * *", duration: 6h}`, at(11, 1, 6, 0), false, "", "", 0},
		{"a 02:30 window does not open on spring-forward day", `{start: "30 2 * * *", duration: 2h}`, at(3, 8, 3, 30), false, "", "", 0},
		{"a 02:30 window opens the day before as usual", `{start: "30 2 * * *", duration: 2h}`, at(3, 7, 3, 0), true, "03-07 02:30 EST", "03-07 04:30 EST", 2 * time.Hour},
		{"a 01:30 window for 30m on spring-forward day ends at 03:00 EDT", `{start: "30 1 * * *", duration: 30m}`, at(3, 8, 1, 45), true, "03-08 01:30 EST", "03-08 03:00 EDT", 30 * time.Minute},
		{"a 01:30 window is open in the first pass through 01:45", `{start: "30 1 * * *", duration: 30m}`, at(11, 1, 1, 45), true, "11-01 01:30 EDT", "11-01 01:00 EST", 30 * time.Minute},
		{"a 01:30 window does not reopen in the second pass", `{start: "30 1 * * *", duration: 30m}`, est145, false, "", "", 0},
		{"a window spanning fall-back with an end spec ends at the wall time", `{start: "0 0 * * *", end: "30 1 * * *"}`, est145, false, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseOne(t, `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {source: prom, query: q}
    max: 100
    up: {threshold: 0.8, step: 10}
    down: {threshold: 0.4}
    schedules:
      - `+strings.TrimSuffix(tt.window, "}")+`, name: w, max: 10, timezone: America/New_York}
`)
			w, ok := p.Schedules[0].WindowAt(tt.t)
			if ok != tt.active {
				t.Fatalf("active at %v = %v, want %v (window %v–%v)", tt.t, ok, tt.active, w.Start.In(ny), w.End.In(ny))
			}
			if !ok {
				return
			}
			const f = "01-02 15:04 MST"
			if s, e := w.Start.In(ny).Format(f), w.End.In(ny).Format(f); s != tt.start || e != tt.end || w.End.Sub(w.Start) != tt.length {
				t.Errorf("window %s – %s (%s), want %s – %s (%s)", s, e, w.End.Sub(w.Start), tt.start, tt.end, tt.length)
			}
		})
	}
}

const boundsPolicy = `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {source: prom, query: q}
    min: 20
    max: 100
    up: {threshold: 0.8, step: 10}
    down: {threshold: 0.4}
    schedules:
      - {name: night, start: "0 1 * * *", end: "0 7 * * *", max: 10}
      - {name: mid, start: "0 2 * * *", duration: 2h, max: 50}
      - {name: early, start: "0 6 * * *", duration: 2h, min: 30}
      - {name: day, start: "0 8 * * *", duration: 4h, min: 80}
      - {name: launch, start: "0 9 * * *", duration: 1h, min: 120}
      - {name: reset, at: "0 7 * * *", set: 50}
`

func TestBoundsAt(t *testing.T) {
	p := parseOne(t, boundsPolicy)
	day := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		at     time.Duration
		want   Bounds
		active []string
	}{
		{30 * time.Minute, Bounds{Min: 20, Max: 100}, nil},
		// A cap below the policy's min pulls the min down with it.
		{time.Hour, Bounds{Min: 10, Max: 10, MinBy: "schedule night", MaxBy: "schedule night"}, []string{"night"}},
		// Two caps: the lowest wins.
		{2*time.Hour + 30*time.Minute, Bounds{Min: 10, Max: 10, MinBy: "schedule night", MaxBy: "schedule night"}, []string{"night", "mid"}},
		{4 * time.Hour, Bounds{Min: 10, Max: 10, MinBy: "schedule night", MaxBy: "schedule night"}, []string{"night"}},
		// A floor above a cap wins over it.
		{6*time.Hour + 30*time.Minute, Bounds{Min: 30, Max: 30, MinBy: "schedule early", MaxBy: "schedule early"}, []string{"night", "early"}},
		// The end spec's instant is outside the window.
		{7 * time.Hour, Bounds{Min: 30, Max: 100, MinBy: "schedule early"}, []string{"early"}},
		{8*time.Hour + 30*time.Minute, Bounds{Min: 80, Max: 100, MinBy: "schedule day"}, []string{"day"}},
		// Two floors: the highest wins; above the policy's max it raises
		// the max with it.
		{9*time.Hour + 15*time.Minute, Bounds{Min: 120, Max: 120, MinBy: "schedule launch", MaxBy: "schedule launch"}, []string{"day", "launch"}},
		{12 * time.Hour, Bounds{Min: 20, Max: 100}, nil},
	}
	for _, tt := range tests {
		now := day.Add(tt.at)
		if got := p.BoundsAt(now); got != tt.want {
			t.Errorf("at %s: bounds %+v, want %+v", tt.at, got, tt.want)
		}
		var names []string
		for _, w := range p.ActiveWindows(now) {
			names = append(names, w.Schedule.Name)
		}
		if strings.Join(names, ",") != strings.Join(tt.active, ",") {
			t.Errorf("at %s: active windows %v, want %v", tt.at, names, tt.active)
		}
	}
	// The executor's range: the policy's, widened by active windows.
	if lo, hi := p.RangeAt(day.Add(time.Hour)); lo != 10 || hi != 100 {
		t.Errorf("RangeAt(01:00) = %v–%v, want 10–100", lo, hi)
	}
	if lo, hi := p.RangeAt(day.Add(9*time.Hour + 15*time.Minute)); lo != 20 || hi != 120 {
		t.Errorf("RangeAt(09:15) = %v–%v, want 20–120", lo, hi)
	}
	if allocs := testing.AllocsPerRun(100, func() { p.BoundsAt(day.Add(6*time.Hour + 30*time.Minute)) }); allocs != 0 {
		t.Errorf("BoundsAt allocates %v times, want 0", allocs)
	}
}

// A one-shot set lands inside the bounds in force at its fire: a window
// or a boost outranks it.
func TestSetTo(t *testing.T) {
	p := parseOne(t, boundsPolicy)
	reset := p.Schedules[5]
	day := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	boost := func(b Bounds, v float64) Bounds {
		// As the engine applies an active boost on top.
		if v > b.Min {
			b.Min, b.MinBy = v, "boost"
			if b.Max < b.Min {
				b.Max, b.MaxBy = b.Min, "boost"
			}
		}
		return b
	}
	tests := []struct {
		name   string
		bounds Bounds
		want   float64
		note   string
	}{
		{"the policy's bounds", p.BoundsAt(day.Add(12 * time.Hour)), 50, ""},
		{"inside a night cap", p.BoundsAt(day.Add(2 * time.Hour)), 10, "lowered from 50 to the maximum 10 set by schedule night"},
		{"inside a launch floor", p.BoundsAt(day.Add(9*time.Hour + 15*time.Minute)), 120, "raised from 50 to the minimum 120 set by schedule launch"},
		{"a boost outranks the set", boost(p.BoundsAt(day.Add(12*time.Hour)), 90), 90, "raised from 50 to the minimum 90 set by boost"},
		{"a boost outranks a window too", boost(p.BoundsAt(day.Add(2*time.Hour)), 90), 90, "raised from 50 to the minimum 90 set by boost"},
	}
	for _, tt := range tests {
		if v, note := p.SetTo(reset, tt.bounds); v != tt.want || note != tt.note {
			t.Errorf("%s: SetTo = %v %q, want %v %q", tt.name, v, note, tt.want, tt.note)
		}
	}
}

// The evaluator, fed with BoundsAt as the engine does: a window brings a
// target down at its start unless a provider guard holds it, in which case
// it waits for the guard while the window lasts; at its end the policy
// takes over again.
func TestEvaluateWithWindow(t *testing.T) {
	p := parseOne(t, `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {source: prom, query: q}
    evaluation_interval: 10s
    min: 10
    max: 100
    up:   {threshold: 0.8, for: 1m, step: 50%, cooldown: 3m}
    down: {threshold: 0.4, for: 2m, stabilization: 5m, cooldown: 5m}
    schedules:
      - {name: quiet, start: "1 12 * * *", end: "6 12 * * *", max: 20}
`)
	type step struct {
		at       time.Duration
		action   Action
		reason   Reason
		from, to float64
	}
	tests := []struct {
		name    string
		status  Status
		metric  float64 // NaN: missing
		want    []step  // the changes and the first of each blocked reason
		explain string  // the first blocked decision's explanation
	}{
		{
			name:   "the window lowers the target at its start and the policy raises it after",
			status: Status{Current: 50, Known: true, DowngradesLeft: -1},
			metric: 30, // 0.6 at 50: the dead band; 1.5 at 20
			want: []step{
				{time.Minute, ScaleDown, ReasonAboveMax, 50, 20},
				{6 * time.Minute, ScaleUp, ReasonBreach, 20, 30},
				{6*time.Minute + 10*time.Second, Hold, ReasonCooldown, 30, 45}, // the policy's own cooldown
				{9 * time.Minute, ScaleUp, ReasonBreach, 30, 45},
			},
		},
		{
			name:   "a provider lock holds the scale-down until it clears, inside the window",
			status: Status{Current: 50, Known: true, DowngradesLeft: -1, LockedUntil: t0.Add(3 * time.Minute)},
			metric: 30,
			want: []step{
				{time.Minute, Hold, ReasonProviderLock, 50, 20},
				{3 * time.Minute, ScaleDown, ReasonAboveMax, 50, 20},
				{6 * time.Minute, ScaleUp, ReasonBreach, 20, 30},
				{6*time.Minute + 10*time.Second, Hold, ReasonCooldown, 30, 45}, // the policy's own cooldown
				{9 * time.Minute, ScaleUp, ReasonBreach, 30, 45},
			},
			explain: "value 50 above the maximum 20 set by schedule quiet; waiting: provider_lock until 2026-11-27T12:03:00Z; 50 → 20",
		},
		{
			name:   "a lock that outlasts the window: the scale-down never happens",
			status: Status{Current: 50, Known: true, DowngradesLeft: -1, LockedUntil: t0.Add(8 * time.Minute)},
			metric: 30,
			want:   []step{{time.Minute, Hold, ReasonProviderLock, 50, 20}},
		},
		{
			name:    "no downgrade left: the window waits, and asks nothing after",
			status:  Status{Current: 50, Known: true, DowngradesLeft: 0},
			metric:  30,
			want:    []step{{time.Minute, Hold, ReasonQuota, 50, 20}},
			explain: "value 50 above the maximum 20 set by schedule quiet; waiting: downgrade_quota; 50 → 20",
		},
		{
			name:   "an upgrade-only resource is never lowered",
			status: Status{Current: 50, Known: true, DowngradesLeft: -1, UpgradeOnly: true},
			metric: 30,
			want:   []step{{time.Minute, Hold, ReasonUpgradeOnly, 50, 20}},
		},
		{
			name:   "missing data does not stop a window",
			status: Status{Current: 50, Known: true, DowngradesLeft: -1},
			metric: math.NaN(),
			want:   []step{{time.Minute, ScaleDown, ReasonAboveMax, 50, 20}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Memory
			st := tt.status
			var got []step
			explain := ""
			var lastBlocked Reason
			for at := time.Duration(0); at < 12*time.Minute; at += 10 * time.Second {
				now := t0.Add(at)
				st.Bounds = p.BoundsAt(now)
				obs := Observation{Value: tt.metric, OK: !math.IsNaN(tt.metric)}
				d := p.Evaluate(&m, st, obs, now)
				switch {
				case d.Changes():
					got = append(got, step{at, d.Action, d.Reason, d.From, d.To})
					st.Current, st.LastChange = d.To, now
					lastBlocked = ReasonNone
				case d.Reason.Blocked() && d.Reason != lastBlocked:
					got = append(got, step{at, d.Action, d.Reason, d.From, d.To})
					if explain == "" {
						explain = d.Explain(now)
					}
					lastBlocked = d.Reason
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("steps = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("step %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if tt.explain != "" && explain != tt.explain {
				t.Errorf("explain = %q, want %q", explain, tt.explain)
			}
		})
	}
}

func TestNextFiresLines(t *testing.T) {
	data, err := os.ReadFile("testdata/schedules-good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := Parse("testdata/schedules-good.yaml", data)
	now := time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC) // a Friday
	var got []string
	for _, u := range NextFires(ps, now, 3) {
		got = append(got, u.Lines()...)
	}
	want := []string{
		`testdata/schedules-good.yaml:10:9: info: policies[0].schedules[0]: policy "web" schedule "night-cap" (window max 10, Asia/Shanghai): next Sat 2026-10-31 01:00:00 CST until 07:00:00 CST; Sun 2026-11-01 01:00:00 CST until 07:00:00 CST; Mon 2026-11-02 01:00:00 CST until 07:00:00 CST`,
		`testdata/schedules-good.yaml:14:9: info: policies[0].schedules[1]: policy "web" schedule "launch-floor" (window min 80 for 4h0m0s, Europe/Berlin): next Mon 2026-11-02 08:00:00 CET until 12:00:00 CET; Tue 2026-11-03 08:00:00 CET until 12:00:00 CET; Wed 2026-11-04 08:00:00 CET until 12:00:00 CET`,
		`testdata/schedules-good.yaml:19:9: info: policies[0].schedules[2]: policy "web" schedule "morning" (set 50, catch_up latest, UTC): next Sat 2026-10-31 00:00:00 UTC; Sun 2026-11-01 00:00:00 UTC; Mon 2026-11-02 00:00:00 UTC`,
		`testdata/schedules-good.yaml:33:9: info: policies[1].schedules[0]: policy "vm" schedule "weekend" (window max small, UTC): next Sat 2026-10-31 00:00:00 UTC until Mon 2026-11-02 00:00:00 UTC; Sat 2026-11-07 00:00:00 UTC until Mon 2026-11-09 00:00:00 UTC; Sat 2026-11-14 00:00:00 UTC until Mon 2026-11-16 00:00:00 UTC`,
		`testdata/schedules-good.yaml:34:9: info: policies[1].schedules[1]: policy "vm" schedule "monday" (set medium, America/New_York): next Mon 2026-11-02 06:00:00 EST; Mon 2026-11-09 06:00:00 EST; Mon 2026-11-16 06:00:00 EST`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The memo never changes an answer: asked out of order, in steps that
// land on and between edges, WindowAt agrees with a fresh computation.
func TestWindowAtMemo(t *testing.T) {
	p := parseOne(t, `
policies:
  - name: web
    targets: {provider: sim, resource: bandwidth_out, instances: [web-1]}
    metric: {source: prom, query: q}
    max: 100
    up: {threshold: 0.8, step: 10}
    down: {threshold: 0.4}
    schedules:
      - {name: hourly, start: "0 * * * *", duration: 90m, max: 10}
      - {name: night, start: "0 1 * * *", end: "30 6 * * *", max: 20}
      - {name: short, start: "*/7 * * * *", duration: 2m, min: 5}
`)
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	for i := 0; i < 2000; i++ {
		// A walk that goes forward and jumps back now and then.
		off := time.Duration((i*7919)%(26*3600)) * time.Second
		times = append(times, base.Add(off), base.Add(off).Add(-time.Minute), base.Add(time.Duration(i)*time.Minute))
	}
	for _, s := range p.Schedules {
		for _, at := range times {
			got, gotOK := s.WindowAt(at)
			want, wantOK := s.windowAt(at)
			if gotOK != wantOK || !got.Start.Equal(want.Start) || !got.End.Equal(want.End) {
				t.Fatalf("%s at %v: memo says %v %v–%v, fresh says %v %v–%v", s.Name, at, gotOK, got.Start, got.End, wantOK, want.Start, want.End)
			}
		}
	}
}

func BenchmarkBoundsAt(b *testing.B) {
	ps, diags := Parse("p.yaml", []byte(boundsPolicy))
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	p := ps[0]
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(17 * time.Second)
		p.BoundsAt(now)
	}
}
