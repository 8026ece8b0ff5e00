package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/specscale/specscale/internal/strictyaml"
)

// ScheduleKind is the form of a schedule.
type ScheduleKind uint8

const (
	// ScheduleSet is a one-shot set: at each fire of At, set the targets
	// to Set; the policy carries on from there.
	ScheduleSet ScheduleKind = iota + 1
	// ScheduleWindow overrides the policy's min and/or max from each fire
	// of Start until the next fire of End, or for Duration.
	ScheduleWindow
)

func (k ScheduleKind) String() string {
	switch k {
	case ScheduleSet:
		return "set"
	case ScheduleWindow:
		return "window"
	}
	return "invalid"
}

// Catch-up modes of a one-shot set: what the daemon does at start-up with
// a fire it missed while it was down.
const (
	// CatchUpNone (the default) skips missed fires, with an event.
	CatchUpNone = "none"
	// CatchUpLatest applies the latest missed fire, once; older ones are
	// skipped.
	CatchUpLatest = "latest"
)

// windowLookback bounds how far back the start of a window with an end
// spec is searched for: a window lasts at most this long.
const windowLookback = 400 * 24 * time.Hour

// Schedule is one entry of a policy's schedules: a one-shot set or a
// window. Its cron specs are compiled once, by Parse; every question about
// fire times takes the time as a parameter.
type Schedule struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// At and Set make a one-shot set.
	At  string `yaml:"at"`
	Set *Value `yaml:"set"`
	// CatchUp is none or latest (one-shot sets only).
	CatchUp string `yaml:"catch_up"`
	// Start, End or Duration, and Min and/or Max make a window.
	Start    string        `yaml:"start"`
	End      string        `yaml:"end"`
	Duration time.Duration `yaml:"duration"`
	Min      *Value        `yaml:"min"`
	Max      *Value        `yaml:"max"`
	// Timezone reads every spec of the schedule in a zone; a spec may
	// instead start with CRON_TZ=Zone. The default is UTC.
	Timezone string `yaml:"timezone"`

	// Kind is set by Parse; zero when the schedule has errors.
	Kind ScheduleKind `yaml:"-"`
	// Path is the schedule's path in its file, "policies[0].schedules[1]";
	// Node locates it for diagnostics.
	Path string     `yaml:"-"`
	Node *yaml.Node `yaml:"-"`

	at, start, end *Cron
	by             string // "schedule <name>", for Bounds.MinBy/MaxBy
	// memo keeps WindowAt's last answer with the interval it holds for:
	// a window's state changes only at its edges, and the engine asks
	// for every target at every evaluation.
	memo atomic.Pointer[windowMemo]
}

// windowMemo is a WindowAt answer that holds for every t in [from, until).
type windowMemo struct {
	from, until time.Time
	w           Window
	ok          bool
}

// Value is a number, or for a policy whose ladder names its rungs, a
// rung's name. Parse resolves names, so Number is always the value.
type Value struct {
	Number float64
	Name   string
}

// DecodeNode accepts a number or a name.
func (v *Value) DecodeNode(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return fmt.Errorf("want a number or a rung name")
	}
	s := strings.TrimSpace(n.Value)
	if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("want a number, got %q", s)
		}
		*v = Value{Number: f}
		return nil
	}
	*v = Value{Name: s}
	return nil
}

func (v *Value) String() string {
	if v.Name != "" {
		return v.Name
	}
	return strconv.FormatFloat(v.Number, 'g', -1, 64)
}

// Window is one occurrence of a window schedule: active from Start
// (inclusive) to End (exclusive).
type Window struct {
	Schedule   *Schedule
	Start, End time.Time
}

// Location is the zone the schedule's specs are read in.
func (s *Schedule) Location() *time.Location {
	switch {
	case s.at != nil:
		return s.at.Location
	case s.start != nil:
		return s.start.Location
	}
	return time.UTC
}

// Compiled reports whether the schedule passed validation and can answer
// questions about fire times.
func (s *Schedule) Compiled() bool {
	return (s.Kind == ScheduleSet && s.at != nil) || (s.Kind == ScheduleWindow && s.start != nil && (s.end != nil || s.Duration > 0))
}

func (s *Schedule) fireCron() *Cron {
	if s.Kind == ScheduleSet {
		return s.at
	}
	return s.start
}

// Next returns the schedule's first fire (a set's fire, a window's start)
// strictly after t, or the zero time.
func (s *Schedule) Next(t time.Time) time.Time {
	if !s.Compiled() {
		return time.Time{}
	}
	return s.fireCron().Next(t)
}

// Between calls fn for each fire (a set's fire, a window's start) in
// (a, b], in order, until fn returns false.
func (s *Schedule) Between(a, b time.Time, fn func(time.Time) bool) {
	if !s.Compiled() {
		return
	}
	s.fireCron().Between(a, b, fn)
}

// Latest returns the schedule's last fire at or before t within lookback.
func (s *Schedule) Latest(t time.Time, lookback time.Duration) (time.Time, bool) {
	if !s.Compiled() {
		return time.Time{}, false
	}
	return s.fireCron().Latest(t, lookback)
}

// EndOf returns when a window that started at start ends.
func (s *Schedule) EndOf(start time.Time) time.Time {
	if s.Duration > 0 {
		return start.Add(s.Duration)
	}
	if s.end == nil {
		return time.Time{}
	}
	return s.end.Next(start)
}

// WindowAt returns the occurrence of a window schedule active at t: the
// latest start at or before t whose end is after t. Overlapping
// occurrences merge: the latest start's end counts.
//
// Answers are memoised per schedule, so asking again inside the same
// occurrence (or the same gap between occurrences) costs no cron
// arithmetic; it is safe for concurrent use.
func (s *Schedule) WindowAt(t time.Time) (Window, bool) {
	if s.Kind != ScheduleWindow || !s.Compiled() {
		return Window{}, false
	}
	if m := s.memo.Load(); m != nil && !t.Before(m.from) && t.Before(m.until) {
		return m.w, m.ok
	}
	w, ok := s.windowAt(t)
	m := &windowMemo{w: w, ok: ok, from: w.Start, until: w.End}
	if ok {
		if next := s.start.Next(w.Start); next.Before(m.until) {
			// An overlapping start takes over as "the latest start".
			m.until = next
		}
	} else {
		// Inactive from t until the next start; a later start could
		// only open a window that ends before t (or it would be open).
		m.from, m.until = t, s.start.Next(t)
	}
	if !m.until.IsZero() {
		s.memo.Store(m)
	}
	return w, ok
}

func (s *Schedule) windowAt(t time.Time) (Window, bool) {
	lookback := windowLookback
	if s.Duration > 0 {
		lookback = s.Duration
	}
	st, ok := s.start.Latest(t, lookback)
	if !ok {
		return Window{}, false
	}
	end := s.EndOf(st)
	if end.IsZero() || !t.Before(end) {
		return Window{}, false
	}
	return Window{Schedule: s, Start: st, End: end}, true
}

// Describe says what the schedule does: "set 50", "window max 10".
func (s *Schedule) Describe() string {
	switch s.Kind {
	case ScheduleSet:
		d := "set " + s.Set.String()
		if s.CatchUp == CatchUpLatest {
			d += ", catch_up latest"
		}
		return d
	case ScheduleWindow:
		d := "window"
		if s.Min != nil {
			d += " min " + s.Min.String()
		}
		if s.Max != nil {
			d += " max " + s.Max.String()
		}
		if s.Duration > 0 {
			d += " for " + s.Duration.String()
		}
		return d
	}
	return "invalid"
}

// ActiveWindows returns the policy's windows active at t, in file order.
func (p *Policy) ActiveWindows(t time.Time) []Window {
	var out []Window
	for _, s := range p.Schedules {
		if w, ok := s.WindowAt(t); ok {
			out = append(out, w)
		}
	}
	return out
}

// BoundsAt returns the policy's bounds at t with its active windows
// applied. Precedence: a window's bound replaces the policy's; among
// windows active at once the highest floor and the lowest cap win, and a
// floor above a cap wins over it (specscale would rather over-provision
// than break a floor). A window's cap below the policy's min lowers the
// min with it, and a floor above the policy's max raises the max. Boosts
// are applied by the caller on top of these bounds. It allocates nothing.
func (p *Policy) BoundsAt(t time.Time) Bounds {
	b := p.Bounds()
	var floor, ceil float64
	var floorBy, ceilBy string
	for _, s := range p.Schedules {
		if s == nil || s.Kind != ScheduleWindow || (s.Min == nil && s.Max == nil) {
			continue
		}
		if _, ok := s.WindowAt(t); !ok {
			continue
		}
		if s.Min != nil && (floorBy == "" || s.Min.Number > floor) {
			floor, floorBy = s.Min.Number, s.by
		}
		if s.Max != nil && (ceilBy == "" || s.Max.Number < ceil) {
			ceil, ceilBy = s.Max.Number, s.by
		}
	}
	if floorBy != "" && ceilBy != "" && floor > ceil {
		ceil, ceilBy = floor, floorBy
	}
	if ceilBy != "" {
		b.Max, b.MaxBy = ceil, ceilBy
		if b.Min > b.Max {
			b.Min, b.MinBy = b.Max, ceilBy
		}
	}
	if floorBy != "" {
		b.Min, b.MinBy = floor, floorBy
		if b.Max < b.Min {
			b.Max, b.MaxBy = b.Min, floorBy
		}
	}
	return b
}

// RangeAt is the widest range an intent for the policy's targets may ask
// for at t: the policy's own min and max, widened by any active window
// that overrides them. The executor re-checks intents against it.
func (p *Policy) RangeAt(t time.Time) (lo, hi float64) {
	b := p.BoundsAt(t)
	return math.Min(p.Min, b.Min), math.Max(p.Max, b.Max)
}

// SetTo returns the value a one-shot set asks for when bounds b hold (the
// policy's, with windows and boosts applied): the schedule's value, raised
// to the floor or lowered to the cap. note says why it moved, or is "".
func (p *Policy) SetTo(s *Schedule, b Bounds) (v float64, note string) {
	v = s.Set.Number
	by := func(x string) string {
		if x == "" {
			return "the policy"
		}
		return x
	}
	switch {
	case v < b.Min:
		v = p.snapUp(b.Min, b)
		note = fmt.Sprintf("raised from %g to the minimum %g set by %s", s.Set.Number, v, by(b.MinBy))
	case v > b.Max:
		v = p.snapDown(b.Max, b)
		note = fmt.Sprintf("lowered from %g to the maximum %g set by %s", s.Set.Number, v, by(b.MaxBy))
	}
	return v, note
}

// Fire is one upcoming fire: a set's time, or a window's start and end.
type Fire struct {
	At  time.Time
	End time.Time // windows only
}

// Upcoming is what validate and status show for one schedule: its next
// fires and how daylight saving touches it over the next year.
type Upcoming struct {
	Policy   string
	Schedule *Schedule
	File     string
	Fires    []Fire
	// Notes describe daylight-saving transitions in the coming year that
	// skip or repeat a fire.
	Notes []string
}

// NextFires lists, for every compiled schedule of ps, its next n fires
// after now and the daylight-saving notes for the year after now.
func NextFires(ps []*Policy, now time.Time, n int) []Upcoming {
	var out []Upcoming
	for _, p := range ps {
		for _, s := range p.Schedules {
			if s == nil || !s.Compiled() {
				continue
			}
			u := Upcoming{Policy: p.Name, Schedule: s, File: p.File}
			for f := s.Next(now); !f.IsZero() && len(u.Fires) < n; f = s.Next(f) {
				fire := Fire{At: f}
				if s.Kind == ScheduleWindow {
					fire.End = s.EndOf(f)
				}
				u.Fires = append(u.Fires, fire)
			}
			year := now.AddDate(1, 0, 0)
			for _, c := range []*Cron{s.at, s.start, s.end} {
				if c != nil {
					u.Notes = append(u.Notes, c.DSTNotes(now, year)...)
				}
			}
			out = append(out, u)
		}
	}
	return out
}

// Lines renders u as info lines, "file:line:col: info: path: …": the first
// lists the fires, one more per daylight-saving note.
func (u Upcoming) Lines() []string {
	s := u.Schedule
	pos := u.File
	if s.Node != nil {
		pos = fmt.Sprintf("%s:%d:%d", u.File, s.Node.Line, s.Node.Column)
	}
	head := fmt.Sprintf("%s: info: %s: policy %q schedule %q (%s, %s)", pos, s.Path, u.Policy, s.Name, s.Describe(), s.Location())
	var fires []string
	for _, f := range u.Fires {
		at := f.At.In(s.Location())
		txt := at.Format("Mon 2006-01-02 15:04:05 MST")
		if !f.End.IsZero() {
			end := f.End.In(s.Location())
			if y, m, d := end.Date(); y == at.Year() && m == at.Month() && d == at.Day() {
				txt += " until " + end.Format("15:04:05 MST")
			} else {
				txt += " until " + end.Format("Mon 2006-01-02 15:04:05 MST")
			}
		}
		fires = append(fires, txt)
	}
	first := head + ": next " + strings.Join(fires, "; ")
	if len(fires) == 0 {
		first = head + ": no fire in the next five years"
	}
	lines := []string{first}
	for _, n := range u.Notes {
		lines = append(lines, fmt.Sprintf("%s: info: %s: %s", pos, s.Path, n))
	}
	return lines
}

// validateSchedules decodes nothing (the decoder already has) but checks
// and compiles every schedule, reporting each problem at its field.
func (p *Policy) validateSchedules(d *strictyaml.Decoder) {
	list := strictyaml.Find(p.Node, "schedules")
	seen := map[string]string{}
	lo, hi := p.Min, p.Max
	for _, s := range p.Schedules {
		if s == nil {
			continue
		}
		for _, v := range []*Value{s.Min, s.Max} {
			if v != nil && v.Name == "" {
				lo, hi = math.Min(lo, v.Number), math.Max(hi, v.Number)
			}
		}
	}
	for i, s := range p.Schedules {
		if s == nil {
			continue
		}
		s.Path = fmt.Sprintf("%s.schedules[%d]", p.Path, i)
		if list != nil && i < len(list.Content) {
			s.Node = list.Content[i]
		}
		s.validate(d, p, seen, lo, hi)
	}
}

func (s *Schedule) validate(d *strictyaml.Decoder, p *Policy, seen map[string]string, lo, hi float64) {
	pos := func(key string) *yaml.Node { return strictyaml.FindOr(s.Node, key) }
	has := func(key string) bool { return strictyaml.Find(s.Node, key) != nil }
	ok := true
	errf := func(key, format string, args ...any) {
		ok = false
		path := s.Path
		if key != "" {
			path += "." + key
		}
		d.Errorf(pos(key), path, format, args...)
	}
	if d.Diags.HasErrorsFor(s.Path) {
		ok = false // a field failed to decode
	}

	switch {
	case s.Name == "":
		errf("name", "required")
	case !nameRE.MatchString(s.Name):
		errf("name", "%q: want lower-case letters, digits, '-' and '_'", s.Name)
	default:
		if prev, dup := seen[s.Name]; dup {
			errf("name", "schedule %q is already defined at %s", s.Name, prev)
		}
		seen[s.Name] = s.Path
	}
	s.by = "schedule " + s.Name

	zone := s.Timezone
	if s.Timezone != "" {
		if _, err := LoadZone(s.Timezone); err != nil {
			errf("timezone", "%v", err)
			zone = ""
		}
	}
	compile := func(key, spec, zone string) *Cron {
		c, err := ParseCron(spec, zone)
		if err != nil {
			errf(key, "%v", err)
			return nil
		}
		return c
	}

	isSet := has("set") || has("at")
	isWindow := has("start") || has("end") || has("duration") || has("min") || has("max")
	switch {
	case isSet && isWindow:
		key := "start"
		for _, k := range []string{"start", "end", "duration", "min", "max"} {
			if has(k) {
				key = k
				break
			}
		}
		errf(key, "a schedule is either a one-shot set (at, set) or a window (start, end or duration, min, max), not both")
	case isSet:
		s.validateSet(errf, has, p, lo, hi)
		if has("at") {
			s.at = compile("at", s.At, zone)
		} else {
			errf("at", `required: when to set, such as "0 7 * * *"`)
		}
		if ok {
			s.Kind = ScheduleSet
		}
	case isWindow:
		s.validateWindow(errf, has, p)
		if s.Start == "" {
			errf("start", `required: when the window opens, such as "0 1 * * *"`)
		} else {
			s.start = compile("start", s.Start, zone)
		}
		if s.End != "" && s.start != nil {
			endZone := s.start.Location.String()
			if name, _, prefixed := cutZone(strings.TrimSpace(s.End)); prefixed && name != endZone && zone == "" {
				errf("end", "the end's zone %s differs from the start's zone %s: a window is read in one zone", name, endZone)
			} else {
				s.end = compile("end", s.End, endZone)
			}
		}
		if ok {
			s.Kind = ScheduleWindow
		}
	default:
		errf("", "want a one-shot set (at and set) or a window (start, then end or duration, with min and/or max)")
	}
	if !ok {
		s.Kind = 0
	}
}

func (s *Schedule) validateSet(errf func(string, string, ...any), has func(string) bool, p *Policy, lo, hi float64) {
	switch s.CatchUp {
	case "":
		s.CatchUp = CatchUpNone
	case CatchUpNone, CatchUpLatest:
	default:
		errf("catch_up", "%q: want none or latest", s.CatchUp)
	}
	if s.Set == nil {
		if !has("set") {
			errf("set", "required: the value to set")
		}
		return
	}
	if !p.resolve(errf, "set", s.Set) {
		return
	}
	v := s.Set.Number
	switch {
	case v < 0:
		errf("set", "must not be negative")
	case v < lo || v > hi:
		errf("set", "%g lies outside min %g and max %g and every window's bounds: it could never be applied", v, p.Min, p.Max)
	case len(p.Ladder) > 0 && !p.isRung(v):
		errf("set", "%g is not a rung of the ladder", v)
	}
}

func (p *Policy) isRung(v float64) bool {
	for _, r := range p.Ladder {
		if r.Value == v {
			return true
		}
	}
	return false
}

func (s *Schedule) validateWindow(errf func(string, string, ...any), has func(string) bool, p *Policy) {
	if has("catch_up") {
		errf("catch_up", "windows take no catch_up: a window active at start-up is applied whatever happened while specscale was down")
	}
	switch {
	case s.End != "" && has("duration"):
		errf("duration", "set either end or duration, not both")
	case s.End == "" && !has("duration"):
		errf("start", "a window needs an end (a cron spec) or a duration")
	case has("duration") && s.Duration <= 0:
		errf("duration", "must be longer than 0")
	case s.Duration > windowLookback:
		errf("duration", "%s is longer than the longest window, %s", s.Duration, windowLookback)
	}
	if s.Min == nil && s.Max == nil {
		if !has("min") && !has("max") {
			errf("start", "a window needs min, max or both")
		}
		return
	}
	minOK := s.Min != nil && p.resolve(errf, "min", s.Min)
	maxOK := s.Max != nil && p.resolve(errf, "max", s.Max)
	if minOK && s.Min.Number < 0 {
		errf("min", "must not be negative")
	}
	if maxOK && s.Max.Number <= 0 {
		errf("max", "must be above 0")
	}
	if minOK && maxOK && s.Max.Number < s.Min.Number {
		errf("max", "%g is below min %g", s.Max.Number, s.Min.Number)
	}
}

// resolve turns a rung name into its value.
func (p *Policy) resolve(errf func(string, string, ...any), key string, v *Value) bool {
	if v.Name == "" {
		return true
	}
	if !p.Named() {
		errf(key, "want a number, got %q", v.Name)
		return false
	}
	n, ok := p.ValueOf(v.Name)
	if !ok {
		names := make([]string, len(p.Ladder))
		for i, r := range p.Ladder {
			names[i] = r.Name
		}
		errf(key, "%q is not a rung of the ladder (have: %s)", v.Name, strings.Join(names, ", "))
		return false
	}
	v.Number = n
	return true
}
