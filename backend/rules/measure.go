package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/motesvakt/motesvakt/classifiers"
)

// The measurement reads the audit log, not the meetings tables, so it
// depends only on these actions and details keys (values are strings):
//
//	meeting.created   profile     chosen profile (open|internal|protected)
//	                  suggested   classification's profile
//	                  externals   number of external invitees ("0", "3")
//	profile.override  profile     chosen profile
//	                  suggested   suggested profile
//	                  categories  deciding categories of the suggestion, comma-separated
//	lobby.admit       verified    "true" when the admitted person proved identity
//	                              (signed in, or redeemed a code); anything else counts
//	                              as unverified
//	recording.started profile     the meeting's profile (optional)
const (
	actMeetingCreated   = "meeting.created"
	actProfileOverride  = "profile.override"
	actLobbyAdmit       = "lobby.admit"
	actRecordingStarted = "recording.started"
)

// Measurement is what the measurement page and /metrics show.
type Measurement struct {
	Since     time.Time                   `json:"since"`
	Meetings  map[classifiers.Profile]int `json:"meetings"`
	Total     int                         `json:"total"`
	Overrides OverrideStats               `json:"overrides"`
	// Externals buckets meetings by number of external invitees: "0", "1",
	// "2-5", "6+".
	Externals      map[string]int `json:"externals"`
	ExternalsSum   int            `json:"externals_sum"`
	ExternalsAvg   float64        `json:"externals_avg"`
	AdmittedTotal  int            `json:"admitted_total"`
	AdmittedUnver  int            `json:"admitted_unverified"`
	Recordings     int            `json:"recordings"`
	RecordingsProf map[string]int `json:"recordings_by_profile"`
}

// OverrideStats counts hosts choosing a different profile than suggested.
type OverrideStats struct {
	Total int `json:"total"`
	// Down is more open than suggested, Up stricter.
	Down int `json:"down"`
	Up   int `json:"up"`
	// ByTransition: "protected→internal" → count.
	ByTransition map[string]int `json:"by_transition"`
	// ByCategory counts downgrades by the suggestion's deciding category.
	ByCategory map[string]int `json:"by_category"`
}

// ExternalBuckets are the histogram labels in display order.
var ExternalBuckets = []string{"0", "1", "2-5", "6+"}

func newMeasurement(since time.Time) *Measurement {
	m := &Measurement{Since: since, Meetings: map[classifiers.Profile]int{}, Externals: map[string]int{}, RecordingsProf: map[string]int{},
		Overrides: OverrideStats{ByTransition: map[string]int{}, ByCategory: map[string]int{}}}
	for _, p := range classifiers.Profiles {
		m.Meetings[p] = 0
	}
	for _, b := range ExternalBuckets {
		m.Externals[b] = 0
	}
	return m
}

func bucket(n int) string {
	switch {
	case n <= 0:
		return "0"
	case n == 1:
		return "1"
	case n <= 5:
		return "2-5"
	}
	return "6+"
}

// add folds one audit entry in.
func (m *Measurement) add(action string, d map[string]string) {
	switch action {
	case actMeetingCreated:
		p := classifiers.Profile(d["profile"])
		if !p.Valid() {
			p = "unknown"
		}
		m.Meetings[p]++
		m.Total++
		n, _ := strconv.Atoi(d["externals"])
		m.Externals[bucket(n)]++
		m.ExternalsSum += max(n, 0)
		m.ExternalsAvg = float64(m.ExternalsSum) / float64(m.Total)
	case actProfileOverride:
		from, to := classifiers.Profile(d["suggested"]), classifiers.Profile(d["profile"])
		m.Overrides.Total++
		if to.Rank() < from.Rank() {
			m.Overrides.Down++
			for _, c := range strings.Split(d["categories"], ",") {
				if c = strings.TrimSpace(c); c != "" {
					m.Overrides.ByCategory[c]++
				}
			}
		} else {
			m.Overrides.Up++
		}
		m.Overrides.ByTransition[string(from)+"→"+string(to)]++
	case actLobbyAdmit:
		m.AdmittedTotal++
		if d["verified"] != "true" {
			m.AdmittedUnver++
		}
	case actRecordingStarted:
		m.Recordings++
		if p := d["profile"]; p != "" {
			m.RecordingsProf[p]++
		}
	}
}

// scanAudit folds every relevant entry with seq > after and ts >= since
// into m and returns the last seq seen.
func scanAudit(ctx context.Context, db *sql.DB, m *Measurement, after int64, since time.Time) (int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT seq, action, details FROM audit_log
		WHERE action IN (?, ?, ?, ?) AND seq > ? AND ts >= ? ORDER BY seq`,
		actMeetingCreated, actProfileOverride, actLobbyAdmit, actRecordingStarted, after, since.UnixMilli())
	if err != nil {
		return after, fmt.Errorf("rules: measure: %w", err)
	}
	defer rows.Close()
	last := after
	for rows.Next() {
		var seq int64
		var action, details string
		if err := rows.Scan(&seq, &action, &details); err != nil {
			return last, fmt.Errorf("rules: measure: %w", err)
		}
		d := map[string]string{}
		_ = json.Unmarshal([]byte(details), &d) // an undecodable entry still counts, without details
		m.add(action, d)
		last = seq
	}
	return last, rows.Err()
}

// Measure summarises the audit log from since on.
func Measure(ctx context.Context, db *sql.DB, since time.Time) (*Measurement, error) {
	m := newMeasurement(since)
	if _, err := scanAudit(ctx, db, m, 0, since); err != nil {
		return nil, err
	}
	return m, nil
}

// Collector exports the all-time measurement to Prometheus. It reads only
// entries appended since the previous scrape, so a scrape stays cheap on a
// long log; counts restart from the stored log when the process does.
type Collector struct {
	db   *sql.DB
	mu   sync.Mutex
	m    *Measurement
	last int64

	meetings, overrides, admitted, recordings, scrapeErr *prometheus.Desc
	externals                                            *prometheus.Desc
}

// NewCollector returns a collector over the audit log in db.
func NewCollector(db *sql.DB) *Collector {
	return &Collector{db: db, m: newMeasurement(time.Time{}),
		meetings:   prometheus.NewDesc("motesvakt_meetings_created_total", "Meetings provisioned, by chosen profile (from the audit log).", []string{"profile"}, nil),
		overrides:  prometheus.NewDesc("motesvakt_profile_overrides_total", "Hosts choosing another profile than suggested, by direction and suggested→chosen.", []string{"direction", "transition"}, nil),
		admitted:   prometheus.NewDesc("motesvakt_lobby_admitted_total", "People admitted from the lobby, by whether they were verified.", []string{"verified"}, nil),
		recordings: prometheus.NewDesc("motesvakt_recordings_started_total", "Recordings started.", nil, nil),
		externals:  prometheus.NewDesc("motesvakt_meeting_externals", "External invitees per provisioned meeting.", nil, nil),
		scrapeErr:  prometheus.NewDesc("motesvakt_measurement_scrape_error", "1 when reading the audit log for metrics failed.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.meetings, c.overrides, c.admitted, c.recordings, c.externals, c.scrapeErr} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	last, err := scanAudit(ctx, c.db, c.m, c.last, time.Time{})
	c.last = last
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeErr, prometheus.GaugeValue, failed)
	m := c.m
	profiles := make([]string, 0, len(m.Meetings))
	for p := range m.Meetings {
		profiles = append(profiles, string(p))
	}
	sort.Strings(profiles)
	for _, p := range profiles {
		ch <- prometheus.MustNewConstMetric(c.meetings, prometheus.CounterValue, float64(m.Meetings[classifiers.Profile(p)]), p)
	}
	for t, n := range m.Overrides.ByTransition {
		dir := "up"
		if parts := strings.Split(t, "→"); len(parts) == 2 && classifiers.Profile(parts[1]).Rank() < classifiers.Profile(parts[0]).Rank() {
			dir = "down"
		}
		ch <- prometheus.MustNewConstMetric(c.overrides, prometheus.CounterValue, float64(n), dir, t)
	}
	ch <- prometheus.MustNewConstMetric(c.admitted, prometheus.CounterValue, float64(m.AdmittedTotal-m.AdmittedUnver), "true")
	ch <- prometheus.MustNewConstMetric(c.admitted, prometheus.CounterValue, float64(m.AdmittedUnver), "false")
	ch <- prometheus.MustNewConstMetric(c.recordings, prometheus.CounterValue, float64(m.Recordings))
	// Buckets 0, 1, 5 match the page's 0 / 1 / 2-5 / 6+ grouping.
	cum := map[float64]uint64{0: uint64(m.Externals["0"])}
	cum[1] = cum[0] + uint64(m.Externals["1"])
	cum[5] = cum[1] + uint64(m.Externals["2-5"])
	ch <- prometheus.MustNewConstHistogram(c.externals, uint64(m.Total), float64(m.ExternalsSum), cum)
}
