package audit

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// jsonRecord is the JSON Lines shape of a record, for a SIEM and for the
// admin API. It carries both hashes, so a receiver can re-check the chain
// with VerifyStream without trusting us.
type jsonRecord struct {
	Seq       Seq               `json:"seq"`
	Time      string            `json:"time"`    // RFC 3339, UTC, milliseconds
	TimeMS    int64             `json:"time_ms"` // the hashed value
	Actor     string            `json:"actor"`
	ActorIP   string            `json:"actor_ip,omitempty"`
	Action    string            `json:"action"`
	MeetingID string            `json:"meeting_id,omitempty"`
	Subject   string            `json:"subject,omitempty"`
	Outcome   string            `json:"outcome"`
	Details   map[string]string `json:"details,omitempty"`
	PrevHash  string            `json:"prev_hash"`
	Hash      string            `json:"hash"`
}

// MarshalJSON renders the record in the export shape.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonRecord{
		Seq: r.Seq, Time: r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), TimeMS: r.Time.UnixMilli(),
		Actor: string(r.Actor), ActorIP: r.ActorIP, Action: string(r.Action), MeetingID: r.MeetingID,
		Subject: r.Subject, Outcome: string(r.Outcome), Details: r.Details,
		PrevHash: r.PrevHash.String(), Hash: r.Hash.String(),
	})
}

// UnmarshalJSON parses the export shape. time_ms is authoritative.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j jsonRecord
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	prev, err := parseHash(j.PrevHash)
	if err != nil {
		return fmt.Errorf("prev_hash: %w", err)
	}
	h, err := parseHash(j.Hash)
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	if len(j.Details) == 0 {
		j.Details = nil
	}
	*r = Record{Seq: j.Seq, PrevHash: prev, Hash: h, Entry: Entry{
		Time: time.UnixMilli(j.TimeMS).UTC(), Actor: Actor(j.Actor), ActorIP: j.ActorIP, Action: Action(j.Action),
		MeetingID: j.MeetingID, Subject: j.Subject, Outcome: Outcome(j.Outcome), Details: j.Details,
	}}
	return nil
}

// Export writes matching entries as JSON Lines, oldest first unless f.Desc.
// For a SIEM, poll with AfterSeq set to the last seq received.
func Export(ctx context.Context, db *sql.DB, w io.Writer, f Filter) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err := query(ctx, db, f, f.Limit, func(r Record) error { return enc.Encode(r) })
	if err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	return nil
}

// VerifyStream checks an unfiltered, oldest-first export (Filter{} or
// Filter{AfterSeq: n}) read from r, the way a SIEM or an auditor would. When
// the first line is not seq 1, its prev_hash is taken on trust as the anchor
// of the range; pass anchors to check it. Lines that are not records make the
// chain break at the expected seq.
func VerifyStream(r io.Reader, anchors ...Head) (Report, error) {
	c := newChecker(anchors)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			c.fail(c.next, "line for entry %d is not a record: %v", c.next, err)
			break
		}
		if first && rec.Seq > 1 {
			c.next, c.prev = rec.Seq, rec.PrevHash
		}
		first = false
		if !c.check(rec, nil) {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return Report{}, fmt.Errorf("audit: verify stream: %w", err)
	}
	return c.report(), nil
}
