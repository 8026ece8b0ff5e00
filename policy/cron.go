package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
)

// cronParser accepts the standard five fields, an optional leading seconds
// field (six fields: for tests and sub-minute windows) and the @daily-style
// descriptors. @every is refused by ParseCron: it has no fixed fire times.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// starBit is robfig/cron's marker for a field written as "*".
const starBit = 1 << 63

// Cron is a compiled cron spec in a time zone. It answers questions about
// fire times for any instant it is given and keeps no state, so one Cron
// may be shared between goroutines.
//
// Fire times follow robfig/cron/v3, with one change across daylight
// saving: when clocks fall back, a spec that names its hour (0 1 * * *)
// fires once, at the first pass through the repeated wall time, as Vixie
// cron does; a spec whose hour field is * follows real time and fires in
// both passes. When clocks spring forward, wall times that do not exist
// never fire (a daily 02:30 is skipped that day).
type Cron struct {
	// Spec is the spec as written, time zone prefix included.
	Spec string
	// Location is the zone the spec is read in.
	Location *time.Location
	sched    *cron.SpecSchedule
}

// cronRef is a fixed instant for checking that a spec ever fires: every
// valid spec fires within the five years robfig/cron searches from it, and
// February 30th never does.
var cronRef = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// ParseCron compiles a spec. The spec may start with CRON_TZ=Zone or
// TZ=Zone; zone, when not empty, is the zone from a separate timezone
// field, and must agree with any prefix. Without either the zone is UTC,
// never the host's local zone. ParseCron never panics, whatever the spec
// (robfig/cron panics on "TZ=UTC" with nothing after it).
func ParseCron(spec, zone string) (c *Cron, err error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New(`required: a cron spec such as "0 1 * * *" or @daily`)
	}
	body := spec
	prefixZone := ""
	if name, rest, ok := cutZone(spec); ok {
		rest = strings.TrimSpace(rest)
		if rest == "" {
			return nil, fmt.Errorf("%q: a time zone prefix needs a schedule after it, such as \"%s 0 1 * * *\"", spec, strings.TrimSpace(spec))
		}
		if _, _, again := cutZone(rest); again {
			return nil, fmt.Errorf("%q: the time zone is given twice", spec)
		}
		prefixZone, body = name, rest
	}
	if prefixZone != "" && zone != "" && prefixZone != zone {
		return nil, fmt.Errorf("%q: the spec's zone %s disagrees with timezone %s: set it in one place", spec, prefixZone, zone)
	}
	name := zone
	if prefixZone != "" {
		name = prefixZone
	}
	loc, err := LoadZone(name)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", spec, err)
	}
	if strings.HasPrefix(body, "@every") {
		return nil, fmt.Errorf("%q: @every has no fixed fire times, so missed fires and windows cannot be worked out after a restart; use a cron spec such as \"*/10 * * * *\"", spec)
	}
	defer func() {
		// Belt and braces: a parser panic must never reach validate.
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("invalid cron spec %q: %v", spec, r)
		}
	}()
	s, err := cronParser.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("invalid cron spec %q: %v", spec, err)
	}
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("invalid cron spec %q: not a calendar schedule", spec)
	}
	ss.Location = loc
	c = &Cron{Spec: spec, Location: loc, sched: ss}
	if c.Next(cronRef).IsZero() {
		return nil, fmt.Errorf("cron spec %q never fires", spec)
	}
	return c, nil
}

// cutZone splits "CRON_TZ=Zone rest" or "TZ=Zone rest".
func cutZone(spec string) (zone, rest string, ok bool) {
	var after string
	switch {
	case strings.HasPrefix(spec, "CRON_TZ="):
		after = spec[len("CRON_TZ="):]
	case strings.HasPrefix(spec, "TZ="):
		after = spec[len("TZ="):]
	default:
		return "", "", false
	}
	i := strings.IndexFunc(after, unicode.IsSpace)
	if i < 0 {
		return after, "", true
	}
	return after[:i], after[i:], true
}

// LoadZone loads a named time zone. "" is UTC; "Local" is refused, because
// a schedule must not change meaning with the host it runs on.
func LoadZone(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, errors.New(`time zone "Local" depends on the host: name a zone such as Asia/Shanghai or UTC`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// Next returns the first fire strictly after t, or the zero time when
// there is none within five years.
func (c *Cron) Next(t time.Time) time.Time {
	for {
		f := c.sched.Next(t)
		if f.IsZero() || !c.repeat(f) {
			return f
		}
		t = f
	}
}

// repeat reports whether f is the second pass through a wall time that
// clocks falling back repeat, for a spec that names its hour.
func (c *Cron) repeat(f time.Time) bool {
	if c.sched.Hour&starBit != 0 {
		return false
	}
	w := f.In(c.Location)
	for _, back := range [...]time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		u := f.Add(-back).In(c.Location)
		if sameWall(u, w) {
			return true
		}
	}
	return false
}

func sameWall(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	ah, ai, as := a.Clock()
	bh, bi, bs := b.Clock()
	return ay == by && am == bm && ad == bd && ah == bh && ai == bi && as == bs
}

// Between calls fn for each fire in (a, b], in order, until fn returns
// false.
func (c *Cron) Between(a, b time.Time, fn func(time.Time) bool) {
	for f := c.Next(a); !f.IsZero() && !f.After(b); f = c.Next(f) {
		if !fn(f) {
			return
		}
	}
}

// Latest returns the last fire in (t-lookback, t]. It searches backwards
// in doubling steps, so a fire far back costs a few dozen Next calls, not
// one per fire.
func (c *Cron) Latest(t time.Time, lookback time.Duration) (time.Time, bool) {
	for step := time.Second; ; step *= 2 {
		if step > lookback {
			step = lookback
		}
		f := c.Next(t.Add(-step))
		if !f.IsZero() && !f.After(t) {
			for {
				n := c.Next(f)
				if n.IsZero() || n.After(t) {
					return f, true
				}
				f = n
			}
		}
		if step == lookback {
			return time.Time{}, false
		}
	}
}

// NextN returns the next n fires after t.
func (c *Cron) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for f := c.Next(t); !f.IsZero() && len(out) < n; f = c.Next(f) {
		out = append(out, f)
	}
	return out
}

// matchesWall reports whether the spec matches a wall time, ignoring
// whether that wall time exists in the zone.
func (c *Cron) matchesWall(y int, mo time.Month, d, h, mi, s int) bool {
	ss := c.sched
	if ss.Month&(1<<uint(mo)) == 0 || ss.Hour&(1<<uint(h)) == 0 || ss.Minute&(1<<uint(mi)) == 0 || ss.Second&(1<<uint(s)) == 0 {
		return false
	}
	wd := time.Date(y, mo, d, 12, 0, 0, 0, time.UTC).Weekday()
	domMatch := ss.Dom&(1<<uint(d)) != 0
	dowMatch := ss.Dow&(1<<uint(wd)) != 0
	if ss.Dom&starBit != 0 || ss.Dow&starBit != 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// DSTNotes describes how daylight-saving transitions in (from, to] touch
// the spec: fires skipped because their wall time does not exist, and
// fires in a repeated hour that happen once or twice.
func (c *Cron) DSTNotes(from, to time.Time) []string {
	var notes []string
	for _, tr := range transitions(c.Location, from, to) {
		skipped, repeated := "", ""
		// The wall times that do not exist (spring forward) or that
		// happen twice (fall back) start at the same wall clock:
		// the transition read at the larger offset minus the shift.
		shift := tr.after - tr.before
		span := shift
		if span < 0 {
			span = -span
		}
		wallStart := tr.at.In(time.FixedZone("", max(tr.before, tr.after))).Add(-time.Duration(span) * time.Second)
		for i := 0; i < span; i++ {
			w := wallStart.Add(time.Duration(i) * time.Second)
			y, mo, d := w.Date()
			h, mi, s := w.Clock()
			if c.matchesWall(y, mo, d, h, mi, s) {
				hm := w.Format("15:04:05")
				if shift > 0 {
					skipped = hm
				} else {
					repeated = hm
				}
				break
			}
		}
		day := tr.at.In(c.Location).Format("2006-01-02")
		switch {
		case skipped != "" && c.sched.Hour&starBit != 0:
			// An hourly spec follows real time: it loses no fire.
		case skipped != "":
			notes = append(notes, fmt.Sprintf("on %s clocks spring forward in %s: %s does not exist, so that fire is skipped", day, c.Location, skipped))
		case repeated != "" && c.sched.Hour&starBit != 0:
			notes = append(notes, fmt.Sprintf("on %s clocks fall back in %s: %s happens twice and the spec fires in both", day, c.Location, repeated))
		case repeated != "":
			notes = append(notes, fmt.Sprintf("on %s clocks fall back in %s: %s happens twice and the spec fires once, the first time", day, c.Location, repeated))
		}
	}
	return notes
}

type transition struct {
	at            time.Time
	before, after int // UTC offsets in seconds
}

// transitions finds the zone's offset changes in (from, to], probing every
// six hours and bisecting to the second.
func transitions(loc *time.Location, from, to time.Time) []transition {
	var out []transition
	const probe = 6 * time.Hour
	_, prev := from.In(loc).Zone()
	for t := from; t.Before(to); {
		next := t.Add(probe)
		if next.After(to) {
			next = to
		}
		_, off := next.In(loc).Zone()
		if off != prev {
			lo, hi := t, next // offset prev at lo, off at hi
			for hi.Sub(lo) > time.Second {
				mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
				if !mid.After(lo) {
					mid = lo.Add(time.Second)
				}
				if _, o := mid.In(loc).Zone(); o == prev {
					lo = mid
				} else {
					hi = mid
				}
			}
			out = append(out, transition{at: hi, before: prev, after: off})
			prev = off
		}
		t = next
	}
	return out
}
