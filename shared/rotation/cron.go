package rotation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a five-field cron expression: minute, hour, day of month, month, day of week (0 is
// Sunday), each `*`, a number, a range a-b, a list a,b and an optional step /n; times are UTC.
type Cron struct{ fields [5]map[int]bool }

// ParseCron parses spec.
func ParseCron(spec string) (Cron, error) {
	f := strings.Fields(spec)
	if len(f) != 5 {
		return Cron{}, fmt.Errorf("cron %q: want five fields (minute hour day month weekday)", spec)
	}
	bounds := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}}
	var c Cron
	for i, field := range f {
		set := map[int]bool{}
		for _, part := range strings.Split(field, ",") {
			rng, stepText, hasStep := strings.Cut(part, "/")
			step := 1
			if hasStep {
				n, err := strconv.Atoi(stepText)
				if err != nil || n < 1 {
					return Cron{}, fmt.Errorf("cron %q: bad step in %q", spec, part)
				}
				step = n
			}
			lo, hi := bounds[i][0], bounds[i][1]
			if rng != "*" {
				a, b, isRange := strings.Cut(rng, "-")
				var err1, err2 error
				lo, err1 = strconv.Atoi(a)
				hi = lo
				if isRange {
					hi, err2 = strconv.Atoi(b)
				} else if hasStep {
					hi = bounds[i][1]
				}
				if err1 != nil || err2 != nil || lo < bounds[i][0] || hi > bounds[i][1] || lo > hi {
					return Cron{}, fmt.Errorf("cron %q: %q is out of %d-%d", spec, part, bounds[i][0], bounds[i][1])
				}
			}
			for v := lo; v <= hi; v += step {
				set[v] = true
			}
		}
		c.fields[i] = set
	}
	return c, nil
}

// Next returns the first minute strictly after t that c matches.
func (c Cron) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	for i := 0; i < 5*366*24*60; i++ { // five years: a 29 February comes within four
		if c.fields[0][t.Minute()] && c.fields[1][t.Hour()] && c.fields[2][t.Day()] && c.fields[3][int(t.Month())] && c.fields[4][int(t.Weekday())] {
			return t
		}
		t = t.Add(time.Minute)
	}
	return time.Time{}
}
