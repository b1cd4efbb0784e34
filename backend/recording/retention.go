package recording

import "time"

// DefaultRetentionDays is how long each profile keeps recordings unless an
// admin changes it (DESIGN.md profile table). Protected rooms refuse
// recording; their 90 days apply to partial recordings frozen by the
// incident button once the legal hold is lifted.
var DefaultRetentionDays = map[string]int{
	"open":      30,
	"internal":  60,
	"protected": 90,
}

// DeleteAfter is the moment a recording created at created and kept for days
// becomes due for Sweep. Days are calendar days of 24 h in UTC, so the result
// does not move with daylight saving time. days < 1 is treated as 1: a
// recording is never born expired.
func DeleteAfter(created time.Time, days int) time.Time {
	if days < 1 {
		days = 1
	}
	return created.UTC().Add(time.Duration(days) * 24 * time.Hour)
}
