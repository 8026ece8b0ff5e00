package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/specscale/specscale/providers"
)

// This file is `specscale status`: it turns what the running system keeps
// in NATS — target state in KV, the audit stream of events — into one row
// per target. Reading is in ReadStates and ReadLatestEvents; StatusRows is
// pure (the clock is a parameter), so every column is a table test.

// StatusRow is one target as `specscale status` shows it. The JSON field
// names are stable: scripts read them. A field that does not apply is null,
// never missing.
type StatusRow struct {
	Target string `json:"target"`
	// Policy owns the target; empty when no policy has claimed it yet.
	Policy string `json:"policy"`
	// Value is the last known live value, null until it has been read.
	// ValueName is its name for name-valued resources (instance types).
	Value          *float64   `json:"value"`
	ValueName      string     `json:"value_name,omitempty"`
	InstanceStatus string     `json:"instance_status,omitempty"`
	ReadAt         *time.Time `json:"read_at"`
	Prepaid        bool       `json:"prepaid"`
	// Desired is the last intent an executor took up.
	Desired *Desired `json:"desired"`
	// Scheduled is a change the provider accepted for later: the target's
	// future value.
	Scheduled *providers.Pending `json:"scheduled"`
	// LastChange is the last change, ours or found as drift.
	LastChange *StatusChange `json:"last_change"`
	// CooldownUp and CooldownDown say how long until the policy may move
	// the target in that direction, and what holds it; null when nothing
	// does.
	CooldownUp   *StatusWait `json:"cooldown_up"`
	CooldownDown *StatusWait `json:"cooldown_down"`
	LockedUntil  *time.Time  `json:"locked_until"`
	// DowngradesLeft is null when no per-cycle limit applies. A cycle that
	// has ended counts as a fresh one: the daemon rolls it on its next read.
	DowngradesLeft *int       `json:"downgrades_left"`
	DowngradeLimit int        `json:"downgrade_limit"`
	DowngradesUsed int        `json:"downgrades_used"`
	CycleEnd       *time.Time `json:"cycle_end"`
	FrozenUntil    *time.Time `json:"frozen_until"`
	Boost          *Boost     `json:"boost"`
	LastError      *ErrorInfo `json:"last_error"`
	LastOutcome    *Outcome   `json:"last_outcome"`
	LatestEvent    *Event     `json:"latest_event"`
}

// StatusChange is a target's last change.
type StatusChange struct {
	At   time.Time `json:"at"`
	From float64   `json:"from"`
	To   float64   `json:"to"`
	Name string    `json:"name,omitempty"`
	// Kind is the intent's kind, or "drift" for a change made outside
	// specscale.
	Kind     string `json:"kind"`
	Reason   string `json:"reason"`
	IntentID string `json:"intent_id,omitempty"`
}

// What holds a target back, in StatusWait.By.
const (
	HeldByProviderLock   = "provider_lock"
	HeldByPolicyCooldown = "policy_cooldown"
	HeldByCycleFreeze    = "cycle_freeze"
)

// StatusWait is the wait before a change in one direction: the later of
// the provider's lock, the policy's cooldown and a freeze until the cycle
// ends.
type StatusWait struct {
	Until time.Time `json:"until"`
	// Seconds left, rounded up.
	Seconds int64  `json:"seconds"`
	By      string `json:"by"`
}

// StatusFilter selects rows; empty fields select everything.
type StatusFilter struct {
	Policy string
	// TargetPrefix matches the start of the target key.
	TargetPrefix string
}

func (f StatusFilter) match(st *TargetState) bool {
	if f.Policy != "" && st.Policy != f.Policy {
		return false
	}
	return strings.HasPrefix(st.Target.Key(), f.TargetPrefix)
}

// StatusRows turns target states into status rows as of now, filtered and
// sorted by target. events, keyed by target, may be nil.
func StatusRows(states []TargetState, events map[string]*Event, now time.Time, f StatusFilter) []StatusRow {
	rows := make([]StatusRow, 0, len(states))
	for i := range states {
		st := &states[i]
		if !f.match(st) {
			continue
		}
		rows = append(rows, statusRow(st, events[st.Target.Key()], now))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Target < rows[j].Target })
	return rows
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func statusRow(st *TargetState, ev *Event, now time.Time) StatusRow {
	r := StatusRow{
		Target: st.Target.Key(), Policy: st.Policy, InstanceStatus: st.Status, ReadAt: timePtr(st.ReadAt), Prepaid: st.Prepaid,
		Desired: st.Desired, Scheduled: st.Scheduled, LockedUntil: timePtr(st.LockedUntil),
		LastError: st.LastError, LastOutcome: st.Outcome, LatestEvent: ev,
		DowngradeLimit: st.DowngradeLimit,
	}
	if st.Known {
		r.Value, r.ValueName = f64(st.Value), st.Name
	}
	if c := st.LastChange; c != nil {
		kind := string(c.Kind)
		if c.Outside {
			kind = "drift"
		}
		r.LastChange = &StatusChange{At: c.At, From: c.From, To: c.To, Name: c.Name, Kind: kind, Reason: c.Reason, IntentID: c.IntentID}
	}

	cycleOver := !st.Cycle.End.IsZero() && !now.Before(st.Cycle.End)
	frozen := time.Time{}
	if !cycleOver {
		r.DowngradesUsed = st.Cycle.Downgrades
		r.CycleEnd = timePtr(st.Cycle.End)
		if now.Before(st.Cycle.FrozenUntil) {
			frozen = st.Cycle.FrozenUntil
			r.FrozenUntil = timePtr(frozen)
		}
	}
	if st.DowngradeLimit > 0 {
		left := max(st.DowngradeLimit-r.DowngradesUsed, 0)
		r.DowngradesLeft = &left
	}

	r.CooldownUp = holdUntil(now, st.LockedUntil, st.UpCooldownUntil, frozen)
	r.CooldownDown = holdUntil(now, st.LockedUntil, st.DownCooldownUntil, frozen)
	if b := st.Boost; b != nil && now.Before(b.Until) {
		r.Boost = b
	}
	return r
}

// holdUntil is the latest of the waits that are still running at now, or
// nil when none is.
func holdUntil(now, lock, policyCooldown, frozen time.Time) *StatusWait {
	var w StatusWait
	for _, c := range []struct {
		until time.Time
		by    string
	}{{lock, HeldByProviderLock}, {policyCooldown, HeldByPolicyCooldown}, {frozen, HeldByCycleFreeze}} {
		if c.until.After(now) && c.until.After(w.Until) {
			w.Until, w.By = c.until, c.by
		}
	}
	if w.Until.IsZero() {
		return nil
	}
	w.Seconds = int64(math.Ceil(w.Until.Sub(now).Seconds()))
	return &w
}

// WriteStatusJSON writes rows as one indented JSON list.
func WriteStatusJSON(w io.Writer, rows []StatusRow) error {
	if rows == nil {
		rows = []StatusRow{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

// none marks a cell that does not apply.
const none = "–"

// WriteStatusTable writes rows as an aligned table, one line per target,
// followed by indented lines for what does not fit a column: the last
// change's reason, a scheduled change, the last error and the latest event.
func WriteStatusTable(w io.Writer, rows []StatusRow, now time.Time) error {
	header := []string{"TARGET", "POLICY", "VALUE", "DESIRED", "LAST CHANGE", "COOLDOWN", "DOWNGRADES LEFT", "BOOST"}
	cells := make([][]string, len(rows))
	details := make([][]string, len(rows))
	for i := range rows {
		cells[i], details[i] = rows[i].cells(now), rows[i].details(now)
	}
	return writeTable(w, header, cells, details)
}

// writeTable writes aligned columns, each row followed by its indented
// detail lines, which do not count toward the column widths.
func writeTable(w io.Writer, header []string, cells, details [][]string) error {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, row := range cells {
		for j, c := range row {
			widths[j] = max(widths[j], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(cs []string) {
		for j, c := range cs {
			b.WriteString(c)
			if j < len(cs)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	line(header)
	for i := range cells {
		line(cells[i])
		for _, d := range details[i] {
			b.WriteString("  ")
			b.WriteString(d)
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *StatusRow) cells(now time.Time) []string {
	policy := r.Policy
	if policy == "" {
		policy = none
	}
	value := "unknown"
	if r.Value != nil {
		value = formatValue(*r.Value, r.ValueName)
	}
	desired := none
	if d := r.Desired; d != nil {
		desired = formatValue(d.Value, d.Name)
	}
	change := none
	if c := r.LastChange; c != nil {
		to := formatValue(c.To, c.Name)
		change = fmt.Sprintf("%s→%s %s %s ago", formatValue(c.From, ""), to, c.Kind, formatAge(now.Sub(c.At)))
	}
	cooldown := none
	up, down := r.CooldownUp, r.CooldownDown
	switch {
	case up == nil && down == nil:
	case up != nil && down != nil && up.Until.Equal(down.Until):
		cooldown = formatLeft(up.Until.Sub(now))
	default:
		var parts []string
		if up != nil {
			parts = append(parts, "up "+formatLeft(up.Until.Sub(now)))
		}
		if down != nil {
			parts = append(parts, "down "+formatLeft(down.Until.Sub(now)))
		}
		cooldown = strings.Join(parts, ", ")
	}
	downgrades := none
	if r.DowngradesLeft != nil {
		downgrades = fmt.Sprintf("%d of %d", *r.DowngradesLeft, r.DowngradeLimit)
		if r.FrozenUntil != nil {
			downgrades += " (frozen)"
		}
	}
	boost := none
	if bo := r.Boost; bo != nil {
		boost = fmt.Sprintf("%s for %s", formatValue(bo.Value, ""), formatLeft(bo.Until.Sub(now)))
	}
	return []string{r.Target, policy, value, desired, change, cooldown, downgrades, boost}
}

func (r *StatusRow) details(now time.Time) []string {
	var out []string
	if c := r.LastChange; c != nil && c.Reason != "" {
		out = append(out, "reason: "+c.Reason)
	}
	if s := r.Scheduled; s != nil {
		d := fmt.Sprintf("scheduled: %s (%s)", formatValue(s.Value, s.Name), s.State)
		if !s.EffectiveAt.IsZero() {
			d += ", effective " + s.EffectiveAt.UTC().Format(time.RFC3339)
		}
		out = append(out, d)
	}
	if e := r.LastError; e != nil {
		d := fmt.Sprintf("error %s ago: %s", formatAge(now.Sub(e.At)), e.Class)
		if e.Code != "" {
			d += " " + e.Code
		}
		out = append(out, d+": "+e.Message)
	}
	if e := r.LatestEvent; e != nil {
		if !r.restatesLastChange(string(e.Type), e.IntentID) {
			d := fmt.Sprintf("latest event %s ago: %s", formatAge(now.Sub(e.At)), e.Type)
			if e.DryRun {
				d += " (dry run)"
			}
			if e.Reason != "" {
				d += ": " + e.Reason
			}
			out = append(out, d)
		}
	} else if o := r.LastOutcome; o != nil && !r.restatesLastChange(o.Result, o.IntentID) {
		d := fmt.Sprintf("last intent %s ago: %s", formatAge(now.Sub(o.At)), o.Result)
		if o.Detail != "" {
			d += ": " + o.Detail
		}
		out = append(out, d)
	}
	return out
}

// restatesLastChange reports whether an outcome only says again what the
// LAST CHANGE column and the reason line already say.
func (r *StatusRow) restatesLastChange(result, intentID string) bool {
	c := r.LastChange
	return c != nil && intentID != "" && c.IntentID == intentID &&
		(result == string(EventApplied) || result == string(EventScheduled))
}

func formatValue(v float64, name string) string {
	if name != "" {
		return name
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatLeft formats a remaining duration, rounded up to the second.
func formatLeft(d time.Duration) string {
	return formatDuration(time.Duration(math.Ceil(d.Seconds())) * time.Second)
}

// formatAge formats how long ago something happened, rounded down.
func formatAge(d time.Duration) string {
	return formatDuration(max(d, 0).Truncate(time.Second))
}

// formatDuration gives the two largest units: 45s, 4m10s, 5h3m, 3d4h.
func formatDuration(d time.Duration) string {
	s := int64(d / time.Second)
	two := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
	}
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return two(s/60, "m", s%60, "s")
	case s < 48*3600:
		return two(s/3600, "h", s%3600/60, "m")
	}
	return two(s/86400, "d", s%86400/3600, "h")
}

// ReadStates reads every target's state from the KV bucket, as of one
// moment. Entries that do not decode are skipped and their keys returned.
func ReadStates(ctx context.Context, kv jetstream.KeyValue) (states []TargetState, bad []string, err error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, nil, fmt.Errorf("read bucket %s: %w", kv.Bucket(), err)
	}
	defer w.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, nil, fmt.Errorf("read bucket %s: the watcher stopped", kv.Bucket())
			}
			if e == nil {
				return states, bad, nil
			}
			var st TargetState
			t, perr := providers.ParseKey(e.Key())
			if perr != nil || json.Unmarshal(e.Value(), &st) != nil {
				bad = append(bad, e.Key())
				continue
			}
			st.Target = t
			states = append(states, st)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("read bucket %s: %w", kv.Bucket(), ctx.Err())
		}
	}
}

// ReadLatestEvents reads each target's latest event from the audit stream,
// keyed by target. A target with no event is absent.
func ReadLatestEvents(ctx context.Context, js jetstream.JetStream, targets []string) (map[string]*Event, error) {
	s, err := js.Stream(ctx, EventStream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", EventStream, err)
	}
	out := make(map[string]*Event, len(targets))
	for _, t := range targets {
		m, err := s.GetLastMsgForSubject(ctx, EventPrefix+"*."+t)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the latest event of %s: %w", t, err)
		}
		var e Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			continue
		}
		out[t] = &e
	}
	return out, nil
}

// WriteSchedulesTable writes one line per schedule — what it does, its
// next fire and its last handled fire — with the fires after the next on
// an indented line.
func WriteSchedulesTable(w io.Writer, plans []SchedulePlan, now time.Time) error {
	header := []string{"POLICY", "SCHEDULE", "WHAT", "NEXT", "LAST FIRE"}
	cells := make([][]string, len(plans))
	details := make([][]string, len(plans))
	for i, p := range plans {
		loc, err := time.LoadLocation(p.Timezone)
		if err != nil {
			loc = time.UTC
		}
		next := "–"
		if len(p.Next) > 0 {
			next = planFire(p.Next[0], loc) + " (in " + formatLeft(p.Next[0].At.Sub(now)) + ")"
		}
		last := "–"
		if p.Last != nil {
			last = p.Last.Fire.In(loc).Format("2006-01-02 15:04 MST") + " " + p.Last.State
		}
		cells[i] = []string{p.Policy, p.Schedule, p.Describe, next, last}
		if len(p.Next) > 1 {
			var more []string
			for _, f := range p.Next[1:] {
				more = append(more, planFire(f, loc))
			}
			details[i] = append(details[i], "then: "+strings.Join(more, "; "))
		}
		for _, n := range p.Notes {
			details[i] = append(details[i], "note: "+n)
		}
	}
	return writeTable(w, header, cells, details)
}

func planFire(f PlanFire, loc *time.Location) string {
	s := f.At.In(loc).Format("Mon 2006-01-02 15:04 MST")
	if !f.End.IsZero() {
		s += " until " + f.End.In(loc).Format("15:04")
	}
	return s
}

// WriteSchedulesJSON writes the plans as a JSON list.
func WriteSchedulesJSON(w io.Writer, plans []SchedulePlan) error {
	if plans == nil {
		plans = []SchedulePlan{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(plans)
}
