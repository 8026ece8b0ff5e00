package scaler

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/specscale/specscale/providers"
)

var statusNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time  { return statusNow.Add(-d) }
func from(d time.Duration) time.Time { return statusNow.Add(d) }
func intPtr(n int) *int              { return &n }

func target(instance string) providers.Target {
	return providers.Target{Account: "sim", Resource: providers.BandwidthOut, Instance: instance}
}

// scaledUp is a target scaled 10 → 20 five minutes ago: a 10-minute
// provider lock, a 30-minute up cooldown and a 2-minute down cooldown.
func scaledUp() TargetState {
	at := ago(5 * time.Minute)
	return TargetState{
		Target: target("web-1"), Policy: "web", Value: 20, Known: true, Status: "Running", ReadAt: ago(time.Second), Prepaid: true,
		Desired:     &Desired{IntentID: "i1", Value: 20, Kind: KindScaleUp, Reason: "utilisation 0.95 above 0.8 for 10s", At: at},
		LastChange:  &Change{At: at, From: 10, To: 20, Kind: KindScaleUp, IntentID: "i1", Reason: "utilisation 0.95 above 0.8 for 10s"},
		LockedUntil: at.Add(10 * time.Minute), UpCooldownUntil: at.Add(30 * time.Minute), DownCooldownUntil: at.Add(2 * time.Minute),
		DowngradeLimit: 3,
		Cycle:          Cycle{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Downgrades: 1},
		Outcome:        &Outcome{IntentID: "i1", Result: "applied", At: at},
	}
}

func TestStatusRows(t *testing.T) {
	cycleEnd := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		state func(*TargetState)
		event *Event
		// want changes the row built from scaledUp's expectations.
		want func(*StatusRow)
		// cells are the table's cells after the target.
		cells   []string
		details []string
	}{
		{
			name:  "scaled up: the policy's up cooldown outlasts the lock, the lock holds downs",
			state: func(*TargetState) {},
			want:  func(*StatusRow) {},
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "2 of 3", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
			},
		},
		{
			name:  "never read, no change, no policy",
			state: func(s *TargetState) { *s = TargetState{Target: target("web-1")} },
			want: func(r *StatusRow) {
				*r = StatusRow{Target: "sim/bandwidth_out/web-1"}
			},
			cells: []string{"–", "unknown", "–", "–", "–", "–", "–"},
		},
		{
			name: "every wait over: no cooldown",
			state: func(s *TargetState) {
				s.LastChange.At, s.LockedUntil, s.UpCooldownUntil, s.DownCooldownUntil = ago(2*time.Hour), ago(time.Hour), ago(time.Minute), ago(time.Hour)
			},
			want: func(r *StatusRow) {
				r.LastChange.At, r.LockedUntil = ago(2*time.Hour), timePtr(ago(time.Hour))
				r.CooldownUp, r.CooldownDown = nil, nil
			},
			cells:   []string{"web", "20", "20", "10→20 scale_up 2h ago", "–", "2 of 3", "–"},
			details: []string{"reason: utilisation 0.95 above 0.8 for 10s"},
		},
		{
			name:  "the lock outlasts both policy cooldowns: one figure",
			state: func(s *TargetState) { s.LockedUntil = from(time.Hour) },
			want: func(r *StatusRow) {
				r.LockedUntil = timePtr(from(time.Hour))
				r.CooldownUp = &StatusWait{Until: from(time.Hour), Seconds: 3600, By: HeldByProviderLock}
				r.CooldownDown = r.CooldownUp
			},
			cells:   []string{"web", "20", "20", "10→20 scale_up 5m ago", "1h", "2 of 3", "–"},
			details: []string{"reason: utilisation 0.95 above 0.8 for 10s"},
		},
		{
			name:  "no downgrade limit",
			state: func(s *TargetState) { s.DowngradeLimit = 0 },
			want:  func(r *StatusRow) { r.DowngradeLimit, r.DowngradesLeft = 0, nil },
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "–", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
			},
		},
		{
			name:  "quota spent",
			state: func(s *TargetState) { s.Cycle.Downgrades = 4 },
			want:  func(r *StatusRow) { r.DowngradesUsed, r.DowngradesLeft = 4, intPtr(0) },
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "0 of 3", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
			},
		},
		{
			name: "the cycle has ended: a fresh quota, no freeze",
			state: func(s *TargetState) {
				s.Cycle = Cycle{Start: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Downgrades: 3,
					FrozenUntil: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
			},
			want:  func(r *StatusRow) { r.DowngradesUsed, r.DowngradesLeft, r.CycleEnd = 0, intPtr(3), nil },
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "3 of 3", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
			},
		},
		{
			name:  "frozen until the cycle ends: every direction waits for it",
			state: func(s *TargetState) { s.Cycle.FrozenUntil, s.Cycle.Downgrades = cycleEnd, 3 },
			want: func(r *StatusRow) {
				r.DowngradesUsed, r.DowngradesLeft, r.FrozenUntil = 3, intPtr(0), timePtr(cycleEnd)
				w := &StatusWait{Until: cycleEnd, Seconds: int64(cycleEnd.Sub(statusNow).Seconds()), By: HeldByCycleFreeze}
				r.CooldownUp, r.CooldownDown = w, w
			},
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "21d12h", "0 of 3 (frozen)", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
			},
		},
		{
			name: "drift: kind drift, no intent",
			state: func(s *TargetState) {
				s.LastChange = &Change{At: ago(90 * time.Second), From: 20, To: 15, Outside: true, Reason: "changed outside specscale"}
				s.Value = 15
			},
			want: func(r *StatusRow) {
				r.Value = f64(15)
				r.LastChange = &StatusChange{At: ago(90 * time.Second), From: 20, To: 15, Kind: "drift", Reason: "changed outside specscale"}
			},
			cells: []string{"web", "15", "20", "20→15 drift 1m30s ago", "up 25m, down 5m", "2 of 3", "–"},
			details: []string{
				"reason: changed outside specscale",
				"last intent 5m ago: applied",
			},
		},
		{
			name: "an active boost",
			state: func(s *TargetState) {
				s.Boost = &Boost{ID: "b1", Value: 50, Until: from(90 * time.Minute), Reason: "DDoSSuspected"}
			},
			want: func(r *StatusRow) {
				r.Boost = &Boost{ID: "b1", Value: 50, Until: from(90 * time.Minute), Reason: "DDoSSuspected"}
			},
			cells:   []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "2 of 3", "50 for 1h30m"},
			details: []string{"reason: utilisation 0.95 above 0.8 for 10s"},
		},
		{
			name:    "a boost that has ended is not shown",
			state:   func(s *TargetState) { s.Boost = &Boost{ID: "b1", Value: 50, Until: ago(time.Second)} },
			want:    func(*StatusRow) {},
			cells:   []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "2 of 3", "–"},
			details: []string{"reason: utilisation 0.95 above 0.8 for 10s"},
		},
		{
			name: "a failed intent: the error and the outcome",
			state: func(s *TargetState) {
				s.LastError = &ErrorInfo{At: ago(time.Minute), IntentID: "i2", Class: "invalid", Code: "InvalidBandwidth.ValueNotSupported", Message: "The specified bandwidth is not supported."}
				s.Outcome = &Outcome{IntentID: "i2", Result: "failed", At: ago(time.Minute), Detail: "the provider refused the change"}
			},
			want: func(r *StatusRow) {
				r.LastError = &ErrorInfo{At: ago(time.Minute), IntentID: "i2", Class: "invalid", Code: "InvalidBandwidth.ValueNotSupported", Message: "The specified bandwidth is not supported."}
				r.LastOutcome = &Outcome{IntentID: "i2", Result: "failed", At: ago(time.Minute), Detail: "the provider refused the change"}
			},
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "2 of 3", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
				"error 1m ago: invalid InvalidBandwidth.ValueNotSupported: The specified bandwidth is not supported.",
				"last intent 1m ago: failed: the provider refused the change",
			},
		},
		{
			name: "a next-cycle downgrade scheduled",
			state: func(s *TargetState) {
				s.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: cycleEnd}
			},
			want: func(r *StatusRow) {
				r.Scheduled = &providers.Pending{Value: 10, State: providers.NextCycle, EffectiveAt: cycleEnd}
			},
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "2 of 3", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
				"scheduled: 10 (next_cycle), effective 2026-04-01T00:00:00Z",
			},
		},
		{
			name:  "the latest event, when read, replaces the outcome",
			state: func(*TargetState) {},
			event: &Event{Type: EventBlocked, At: ago(20 * time.Second), Target: "sim/bandwidth_out/web-1", Reason: "scale-up blocked: cooldown until 12:25:00"},
			want: func(r *StatusRow) {
				r.LatestEvent = &Event{Type: EventBlocked, At: ago(20 * time.Second), Target: "sim/bandwidth_out/web-1", Reason: "scale-up blocked: cooldown until 12:25:00"}
			},
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "2 of 3", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
				"latest event 20s ago: blocked: scale-up blocked: cooldown until 12:25:00",
			},
		},
		{
			name: "a dry-run event",
			state: func(s *TargetState) {
				s.Outcome = &Outcome{IntentID: "i3", Result: "would_apply", At: ago(3 * time.Second)}
			},
			event: &Event{Type: EventWouldApply, At: ago(3 * time.Second), IntentID: "i3", DryRun: true, Reason: "utilisation 0.9 above 0.8"},
			want: func(r *StatusRow) {
				r.LastOutcome = &Outcome{IntentID: "i3", Result: "would_apply", At: ago(3 * time.Second)}
				r.LatestEvent = &Event{Type: EventWouldApply, At: ago(3 * time.Second), IntentID: "i3", DryRun: true, Reason: "utilisation 0.9 above 0.8"}
			},
			cells: []string{"web", "20", "20", "10→20 scale_up 5m ago", "up 25m, down 5m", "2 of 3", "–"},
			details: []string{
				"reason: utilisation 0.95 above 0.8 for 10s",
				"latest event 3s ago: would_apply (dry run): utilisation 0.9 above 0.8",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := scaledUp()
			tt.state(&st)
			var events map[string]*Event
			if tt.event != nil {
				events = map[string]*Event{st.Target.Key(): tt.event}
			}
			rows := StatusRows([]TargetState{st}, events, statusNow, StatusFilter{})
			if len(rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(rows))
			}
			want := scaledUpRow()
			tt.want(&want)
			if got := rows[0]; !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(want, "", " ")
				t.Errorf("row:\n%s\nwant:\n%s", g, w)
			}
			if got, want := rows[0].cells(statusNow)[1:], tt.cells; !reflect.DeepEqual(got, want) {
				t.Errorf("cells = %q\nwant    %q", got, want)
			}
			if got, want := rows[0].details(statusNow), tt.details; !reflect.DeepEqual(got, want) {
				t.Errorf("details = %q\nwant      %q", got, want)
			}
		})
	}
}

// scaledUpRow is scaledUp as a row.
func scaledUpRow() StatusRow {
	st := scaledUp()
	at := st.LastChange.At
	return StatusRow{
		Target: "sim/bandwidth_out/web-1", Policy: "web", Value: f64(20), InstanceStatus: "Running", ReadAt: timePtr(ago(time.Second)), Prepaid: true,
		Desired:        st.Desired,
		LastChange:     &StatusChange{At: at, From: 10, To: 20, Kind: "scale_up", Reason: "utilisation 0.95 above 0.8 for 10s", IntentID: "i1"},
		CooldownUp:     &StatusWait{Until: at.Add(30 * time.Minute), Seconds: 25 * 60, By: HeldByPolicyCooldown},
		CooldownDown:   &StatusWait{Until: at.Add(10 * time.Minute), Seconds: 5 * 60, By: HeldByProviderLock},
		LockedUntil:    timePtr(at.Add(10 * time.Minute)),
		DowngradesLeft: intPtr(2), DowngradeLimit: 3, DowngradesUsed: 1,
		CycleEnd:    timePtr(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)),
		LastOutcome: st.Outcome,
	}
}

func TestStatusRowsFilterAndSort(t *testing.T) {
	mk := func(instance, policy string) TargetState {
		return TargetState{Target: target(instance), Policy: policy}
	}
	states := []TargetState{mk("web-2", "web"), mk("api-1", "api"), mk("web-1", "web"), mk("web-10", "web"),
		{Target: providers.Target{Account: "other", Resource: providers.BandwidthOut, Instance: "web-1"}, Policy: "web"}}
	tests := []struct {
		name   string
		filter StatusFilter
		want   []string
	}{
		{"everything, sorted by target", StatusFilter{},
			[]string{"other/bandwidth_out/web-1", "sim/bandwidth_out/api-1", "sim/bandwidth_out/web-1", "sim/bandwidth_out/web-10", "sim/bandwidth_out/web-2"}},
		{"by policy", StatusFilter{Policy: "api"}, []string{"sim/bandwidth_out/api-1"}},
		{"by target prefix", StatusFilter{TargetPrefix: "sim/bandwidth_out/web-1"}, []string{"sim/bandwidth_out/web-1", "sim/bandwidth_out/web-10"}},
		{"by account", StatusFilter{TargetPrefix: "other/"}, []string{"other/bandwidth_out/web-1"}},
		{"both", StatusFilter{Policy: "web", TargetPrefix: "sim/"}, []string{"sim/bandwidth_out/web-1", "sim/bandwidth_out/web-10", "sim/bandwidth_out/web-2"}},
		{"nothing matches", StatusFilter{Policy: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range StatusRows(states, nil, statusNow, tt.filter) {
				got = append(got, r.Target)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("targets = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteStatusTable(t *testing.T) {
	a := scaledUp()
	a.LastError = &ErrorInfo{At: ago(time.Minute), Class: "retry_later", Code: "Throttling.User", Message: "Request was denied due to user flow control."}
	b := TargetState{Target: providers.Target{Account: "sim", Resource: providers.AADBasicQPS, Instance: "shield-1"}, Policy: "shield-qps", Value: 1000, Known: true}
	var buf bytes.Buffer
	if err := WriteStatusTable(&buf, StatusRows([]TargetState{b, a}, nil, statusNow, StatusFilter{}), statusNow); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"TARGET                      POLICY      VALUE  DESIRED  LAST CHANGE            COOLDOWN         DOWNGRADES LEFT  BOOST",
		"sim/aad_basic_qps/shield-1  shield-qps  1000   –        –                      –                –                –",
		"sim/bandwidth_out/web-1     web         20     20       10→20 scale_up 5m ago  up 25m, down 5m  2 of 3           –",
		"  reason: utilisation 0.95 above 0.8 for 10s",
		"  error 1m ago: retry_later Throttling.User: Request was denied due to user flow control.",
		"",
	}, "\n")
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// The JSON is a list of objects whose field names scripts rely on; every
// field is present, null when it does not apply.
func TestWriteStatusJSONFieldNames(t *testing.T) {
	var buf bytes.Buffer
	rows := StatusRows([]TargetState{{Target: target("web-1")}, scaledUp()}, nil, statusNow, StatusFilter{TargetPrefix: "nothing"})
	if err := WriteStatusJSON(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "[]\n" {
		t.Errorf("no rows: %q, want []", got)
	}
	buf.Reset()
	rows = StatusRows([]TargetState{{Target: target("web-0")}, scaledUp()}, nil, statusNow, StatusFilter{})
	if err := WriteStatusJSON(&buf, rows); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	fields := []string{"target", "policy", "value", "read_at", "prepaid", "desired", "scheduled", "last_change", "cooldown_up", "cooldown_down",
		"locked_until", "downgrades_left", "downgrade_limit", "downgrades_used", "cycle_end", "frozen_until", "boost", "last_error",
		"last_outcome", "latest_event"}
	for i, row := range got {
		for _, f := range fields {
			if _, ok := row[f]; !ok {
				t.Errorf("row %d has no field %q", i, f)
			}
		}
	}
	if got[0]["value"] != nil || got[0]["downgrades_left"] != nil || got[0]["cooldown_up"] != nil {
		t.Errorf("an unread target: %v", got[0])
	}
	up := got[1]["cooldown_up"].(map[string]any)
	if up["seconds"] != float64(1500) || up["by"] != HeldByPolicyCooldown || up["until"] != "2026-03-10T12:25:00Z" {
		t.Errorf("cooldown_up = %v", up)
	}
	lc := got[1]["last_change"].(map[string]any)
	if lc["from"] != float64(10) || lc["to"] != float64(20) || lc["kind"] != "scale_up" || lc["reason"] != "utilisation 0.95 above 0.8 for 10s" {
		t.Errorf("last_change = %v", lc)
	}
	if got[1]["downgrades_left"] != float64(2) || got[1]["value"] != float64(20) {
		t.Errorf("row = %v", got[1])
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {59 * time.Second, "59s"}, {time.Minute, "1m"}, {4*time.Minute + 10*time.Second, "4m10s"},
		{time.Hour, "1h"}, {5*time.Hour + 3*time.Minute, "5h3m"}, {47*time.Hour + 59*time.Minute, "47h59m"},
		{48 * time.Hour, "2d"}, {3*24*time.Hour + 4*time.Hour + 5*time.Minute, "3d4h"},
	} {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := formatLeft(1500 * time.Millisecond); got != "2s" {
		t.Errorf("formatLeft rounds up: %q", got)
	}
	if got := formatAge(1500 * time.Millisecond); got != "1s" {
		t.Errorf("formatAge rounds down: %q", got)
	}
}
