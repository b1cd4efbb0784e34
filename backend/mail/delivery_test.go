package mail

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/locales"
)

// The code used throughout, in both spellings a leak could take.
var secrets = []string{"K7MP-Q2XZ", "K7MPQ2XZ"}

type rig struct {
	dbPath   string
	db       *sql.DB
	key      []byte
	outbox   *Outbox
	renderer *Renderer
	clock    *clock
	logs     *lockedBuffer

	mu      sync.Mutex
	results []Result
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{dbPath: filepath.Join(t.TempDir(), "motesvakt.db"), key: testKey(t, "server secret for tests"),
		clock: &clock{now: renderNow}, logs: &lockedBuffer{}}
	r.db = openDB(t, r.dbPath)
	var err error
	if r.outbox, err = NewOutbox(r.db, r.key); err != nil {
		t.Fatal(err)
	}
	if r.renderer, err = NewRenderer("Mötesvakt <noreply@kommun.example>"); err != nil {
		t.Fatal(err)
	}
	return r
}

var testPolicy = RetryPolicy{MaxAttempts: 3, Base: time.Minute, Factor: 3, Max: time.Hour, Jitter: 0.2}

func (r *rig) worker(t *testing.T, tr Transport) *Worker {
	t.Helper()
	w, err := NewWorker(WorkerConfig{
		Outbox: r.outbox, Transport: tr, Now: r.clock.Now, Logger: newLogger(r.logs),
		Retry: testPolicy, Lease: time.Minute,
		Rand: func() float64 { return 0.5 }, // jitter factor 1: exact waits
		Report: func(_ context.Context, _ *sql.Tx, res Result) error {
			r.mu.Lock()
			r.results = append(r.results, res)
			r.mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (r *rig) enqueue(t *testing.T, msg *Message) DeliveryID {
	t.Helper()
	tx, err := r.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.outbox.Enqueue(context.Background(), tx, msg, r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return id
}

func (r *rig) invite(t *testing.T, mutate ...func(*Invitation)) DeliveryID {
	t.Helper()
	inv := testInvitation(locales.Swedish)
	for _, m := range mutate {
		m(&inv)
	}
	msg, err := r.renderer.Invitation(inv, r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r.enqueue(t, msg)
}

func (r *rig) get(t *testing.T, id DeliveryID) Delivery {
	t.Helper()
	d, err := r.outbox.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (r *rig) runOnce(t *testing.T, w *Worker) int {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

func (r *rig) lastResult(t *testing.T) Result {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.results) == 0 {
		t.Fatal("no result reported")
	}
	return r.results[len(r.results)-1]
}

// assertClean checks that no code reached the database file or the logs.
func (r *rig) assertClean(t *testing.T) {
	t.Helper()
	assertNoSecretOnDisk(t, r.dbPath, secrets...)
	// The bodies must be ciphertext, not merely an encoding of the message.
	rows, err := r.db.Query(`SELECT sealed FROM mail_outbox WHERE sealed IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var sealed string
		if err := rows.Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(sealed)
		if err != nil {
			t.Fatalf("sealed column is not base64: %v", err)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToUpper(string(raw)), s) {
				t.Errorf("sealed body reveals the code %q", s)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(strings.ToUpper(r.logs.String()), s) {
			t.Errorf("logs contain the code %q", s)
		}
	}
}

func TestSMTPDelivery(t *testing.T) {
	srv := startSMTP(t)
	r := newRig(t)
	tr, err := NewSMTP(srv.config())
	if err != nil {
		t.Fatal(err)
	}
	id := r.invite(t)
	if d := r.get(t, id); d.Status != StatusQueued || !d.Resendable {
		t.Fatalf("after enqueue: %+v", d)
	}
	r.clock.Add(2 * time.Second)
	if got, want := r.runOnce(t, r.worker(t, tr)), 1; got != want {
		t.Fatalf("claimed %d, want %d", got, want)
	}
	got := srv.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	m := got[0]
	if !m.TLS || m.User != smtpUser {
		t.Errorf("delivered with TLS=%v user=%q; want STARTTLS and AUTH PLAIN", m.TLS, m.User)
	}
	if m.From != "noreply@kommun.example" || m.To != "astrid.ostergard@extern.example" {
		t.Errorf("envelope %s → %s", m.From, m.To)
	}
	p := parseEML(t, m.Data)
	if got, want := p.Subject, "Inbjudan: Styrelsemöte – åtgärder för Öresund"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	for _, want := range []string{"Din personliga kod: K7MP-Q2XZ", "Länk till mötet: https://motesvakt.kommun.example/join/m-1", "Hej Astrid Östergård!"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("delivered text lacks %q", want)
		}
	}
	for _, line := range strings.Split(p.Text, "\n") {
		if i := strings.Index(line, "https://"); i >= 0 {
			link := strings.Fields(line[i:])[0]
			if strings.Contains(strings.ToUpper(strings.ReplaceAll(link, "-", "")), "K7MPQ2XZ") {
				t.Errorf("link %q carries the code", link)
			}
		}
	}
	d := r.get(t, id)
	if d.Status != StatusSent || d.Attempts != 1 || d.LastError != "" || !d.SentAt.Equal(r.clock.Now()) {
		t.Errorf("after delivery: %+v", d)
	}
	if res := r.lastResult(t); res.Status != StatusSent || res.ID != id || res.MeetingID != "m-1" || res.InviteeID != "i-1" || res.Attempt != 1 {
		t.Errorf("reported %+v", res)
	}
	if !strings.Contains(r.logs.String(), "mail: delivered") {
		t.Errorf("logs lack the delivery line:\n%s", r.logs)
	}
	r.assertClean(t)

	// Nothing is due any more.
	if got := r.runOnce(t, r.worker(t, tr)); got != 0 {
		t.Errorf("claimed %d after delivery, want 0", got)
	}
}

// A failing server: the message is retried with growing waits, its state is
// visible through Status, and it is delivered once the server recovers.
func TestSMTPRetries(t *testing.T) {
	tests := []struct {
		name  string
		stage string
		code  int
	}{
		{"4xx on DATA", "data", 451},
		{"5xx on DATA", "data", 554},
		{"4xx on MAIL", "mail", 421},
		{"5xx on MAIL", "mail", 553},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t)
			r := newRig(t)
			tr, err := NewSMTP(srv.config())
			if err != nil {
				t.Fatal(err)
			}
			w := r.worker(t, tr)
			failures := 2
			srv.setFail(func(stage string) error {
				if stage == tt.stage && failures > 0 {
					failures--
					return smtpErr(tt.code, "refused by the test")
				}
				return nil
			})
			id := r.invite(t)
			code := strconv.Itoa(tt.code)

			for attempt, wait := range []time.Duration{time.Minute, 3 * time.Minute} {
				r.runOnce(t, w)
				d := r.get(t, id)
				if d.Status != StatusQueued || d.Attempts != attempt+1 || !strings.Contains(d.LastError, code) {
					t.Fatalf("after attempt %d: %+v", attempt+1, d)
				}
				if got, want := d.NextAttemptAt, r.clock.Now().Add(wait); !got.Equal(want) {
					t.Fatalf("after attempt %d: next at %v, want %v", attempt+1, got, want)
				}
				if res := r.lastResult(t); res.Status != StatusQueued || !res.NextAttemptAt.Equal(d.NextAttemptAt) {
					t.Errorf("reported %+v", res)
				}
				// Not due yet: backoff holds.
				r.clock.Add(wait - time.Second)
				if got := r.runOnce(t, w); got != 0 {
					t.Fatalf("claimed %d before the backoff ran out", got)
				}
				r.clock.Add(time.Second)
			}
			r.runOnce(t, w)
			if d := r.get(t, id); d.Status != StatusSent || d.Attempts != 3 {
				t.Fatalf("after recovery: %+v", d)
			}
			if got := len(srv.messages()); got != 1 {
				t.Errorf("server holds %d messages, want 1", got)
			}
			r.assertClean(t)
		})
	}
}

func TestSMTPGivesUp(t *testing.T) {
	t.Run("recipient refused", func(t *testing.T) {
		srv := startSMTP(t)
		r := newRig(t)
		tr, _ := NewSMTP(srv.config())
		srv.setFail(func(stage string) error {
			if stage == "rcpt" {
				return smtpErr(550, "No such user here")
			}
			return nil
		})
		id := r.invite(t)
		r.runOnce(t, r.worker(t, tr))
		d := r.get(t, id)
		if d.Status != StatusFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "550") {
			t.Fatalf("after refusal: %+v", d)
		}
		if res := r.lastResult(t); res.Status != StatusFailed {
			t.Errorf("reported %+v", res)
		}
	})
	t.Run("connection refused until the budget is spent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close() // nothing listens here now
		r := newRig(t)
		tr, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, From: "noreply@kommun.example", Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		w := r.worker(t, tr)
		id := r.invite(t)
		for i := 1; i <= testPolicy.MaxAttempts; i++ {
			r.runOnce(t, w)
			d := r.get(t, id)
			want := StatusQueued
			if i == testPolicy.MaxAttempts {
				want = StatusFailed
			}
			if d.Status != want || d.Attempts != i || !strings.Contains(d.LastError, "refused") {
				t.Fatalf("after attempt %d: %+v", i, d)
			}
			r.clock.Add(time.Hour)
		}
		if got := r.runOnce(t, w); got != 0 {
			t.Errorf("claimed %d after giving up", got)
		}
		if !strings.Contains(r.logs.String(), "mail: delivery given up") {
			t.Errorf("logs lack the give-up line")
		}
	})
}

// Misconfiguration never sends codes in clear or to the wrong party.
func TestSMTPSecurity(t *testing.T) {
	t.Run("STARTTLS required but not offered", func(t *testing.T) {
		srv := startSMTPServer(t, false)
		r := newRig(t)
		cfg := srv.config()
		tr, _ := NewSMTP(cfg)
		id := r.invite(t)
		r.runOnce(t, r.worker(t, tr))
		if d := r.get(t, id); d.Status != StatusQueued || !strings.Contains(d.LastError, "STARTTLS") {
			t.Fatalf("%+v", d)
		}
		if n := len(srv.messages()); n != 0 {
			t.Fatalf("server received %d messages without TLS", n)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := startSMTP(t)
		r := newRig(t)
		cfg := srv.config()
		cfg.TLSConfig = nil // system roots do not know the test CA
		tr, _ := NewSMTP(cfg)
		id := r.invite(t)
		r.runOnce(t, r.worker(t, tr))
		if d := r.get(t, id); d.Status != StatusQueued || !strings.Contains(d.LastError, "certificate") {
			t.Fatalf("%+v", d)
		}
		if n := len(srv.messages()); n != 0 {
			t.Fatalf("server received %d messages", n)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		srv := startSMTP(t)
		r := newRig(t)
		cfg := srv.config()
		cfg.Password = "fel"
		tr, _ := NewSMTP(cfg)
		id := r.invite(t)
		r.runOnce(t, r.worker(t, tr))
		d := r.get(t, id)
		if d.Status != StatusQueued || !strings.Contains(d.LastError, "535") {
			t.Fatalf("%+v", d)
		}
		if strings.Contains(d.LastError, "fel") || strings.Contains(r.logs.String(), smtpPass) {
			t.Errorf("password leaked into the error or logs")
		}
	})
}

// A server that echoes the message back in its error must not put the code
// into last_error, the report or the logs.
func TestErrorsAreRedacted(t *testing.T) {
	srv := startSMTP(t)
	r := newRig(t)
	tr, _ := NewSMTP(srv.config())
	srv.setFail(func(stage string) error {
		if stage == "data" {
			return smtpErr(451, "rejected line: Din personliga kod: k7mp-Q2XZ (K7MPQ2XZ)")
		}
		return nil
	})
	id := r.invite(t)
	r.runOnce(t, r.worker(t, tr))
	d := r.get(t, id)
	if !strings.Contains(d.LastError, "[redacted]") {
		t.Fatalf("last_error = %q, want a redaction", d.LastError)
	}
	if res := r.lastResult(t); strings.Contains(strings.ToUpper(res.Err), "K7MP") {
		t.Errorf("reported error %q carries the code", res.Err)
	}
	r.assertClean(t)
}

// A new worker on the same database file delivers what was queued before
// the restart, including a message a crashed worker left in "sending".
func TestRestart(t *testing.T) {
	srv := startSMTP(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "motesvakt.db")
	key := testKey(t, "server secret for tests")
	clk := &clock{now: renderNow}
	ren, _ := NewRenderer("noreply@kommun.example")

	// First life: two invitations queued; a worker claims one and dies mid-send.
	db1 := openDB(t, dbPath)
	ob1, _ := NewOutbox(db1, key)
	var ids []DeliveryID
	for _, invitee := range []InviteeID{"i-1", "i-2"} {
		inv := testInvitation(locales.English)
		inv.InviteeID = invitee
		msg, err := ren.Invitation(inv, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		tx, _ := db1.Begin()
		id, err := ob1.Enqueue(context.Background(), tx, msg, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		tx.Commit()
		ids = append(ids, id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hang := transportFunc(func(ctx context.Context, _ Envelope) error {
		cancel() // the process "dies" while talking to the server
		<-ctx.Done()
		return ctx.Err()
	})
	w1, _ := NewWorker(WorkerConfig{Outbox: ob1, Transport: hang, Now: clk.Now, Retry: testPolicy,
		Lease: time.Minute, Batch: 1, Logger: newLogger(&lockedBuffer{})})
	if _, err := w1.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var stuck DeliveryID
	for _, id := range ids {
		if d, _ := ob1.Get(context.Background(), id); d.Status == StatusSending {
			stuck = id
		}
	}
	if stuck == "" {
		t.Fatal("no message left in sending")
	}
	if err := db1.Close(); err != nil {
		t.Fatal(err)
	}

	// Second life: a fresh connection, outbox and worker.
	r := &rig{dbPath: dbPath, db: openDB(t, dbPath), clock: clk, logs: &lockedBuffer{}}
	r.outbox, _ = NewOutbox(r.db, key)
	tr, _ := NewSMTP(srv.config())
	w2 := r.worker(t, tr)
	r.runOnce(t, w2) // delivers the queued one; the stuck one is still leased
	if d := r.get(t, stuck); d.Status != StatusSending {
		t.Fatalf("leased message taken early: %+v", d)
	}
	r.clock.Add(time.Minute) // the dead worker's lease runs out
	r.runOnce(t, w2)
	for _, id := range ids {
		if d := r.get(t, id); d.Status != StatusSent {
			t.Errorf("%s: %+v", id, d)
		}
	}
	if d := r.get(t, stuck); d.Attempts != 2 {
		t.Errorf("stuck message attempts = %d, want 2 (the interrupted one counts)", d.Attempts)
	}
	if got := len(srv.messages()); got != 2 {
		t.Errorf("server received %d messages, want 2", got)
	}
	r.assertClean(t)
}

type transportFunc func(context.Context, Envelope) error

func (f transportFunc) Send(ctx context.Context, e Envelope) error { return f(ctx, e) }

func TestFileOutbox(t *testing.T) {
	r := newRig(t)
	dir := filepath.Join(t.TempDir(), "data", "outbox")
	fo, err := NewFileOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := r.invite(t)
	w := r.worker(t, fo)
	r.runOnce(t, w)
	if d := r.get(t, id); d.Status != StatusSent {
		t.Fatalf("%+v", d)
	}
	path := filepath.Join(dir, string(id)+".eml")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("file mode = %v, want %v", got, want)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", di.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := parseEML(t, raw)
	if !strings.Contains(p.Text, "K7MP-Q2XZ") || p.Header.Get("Auto-Submitted") != "auto-generated" || p.To.Address != "astrid.ostergard@extern.example" {
		t.Errorf("outbox file does not hold the invitation:\n%s", p.Text)
	}

	// A resend rewrites the same file atomically: one file, no temp leftovers.
	tx, _ := r.db.Begin()
	if err := r.outbox.Resend(context.Background(), tx, id, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	r.runOnce(t, w)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != string(id)+".eml" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("outbox holds %v, want just %s.eml", names, id)
	}
	r.assertClean(t)
}

func TestResendCancelForget(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	fo, _ := NewFileOutbox(t.TempDir())
	w := r.worker(t, fo)
	inTx := func(f func(tx *sql.Tx) error) error {
		tx, err := r.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := f(tx); err != nil {
			return err
		}
		return tx.Commit()
	}

	sent := r.invite(t)
	r.runOnce(t, w)
	queued := r.invite(t, func(i *Invitation) { i.InviteeID = "i-2"; i.To = "bo@extern.example" })
	other := r.invite(t, func(i *Invitation) { i.InviteeID = "i-3"; i.To = "cia@extern.example" })

	if err := inTx(func(tx *sql.Tx) error { return r.outbox.Resend(ctx, tx, "nope", r.clock.Now()) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("resend unknown: %v", err)
	}
	// Re-sending a sent invitation queues the very same message again.
	if err := inTx(func(tx *sql.Tx) error { return r.outbox.Resend(ctx, tx, sent, r.clock.Now()) }); err != nil {
		t.Fatal(err)
	}
	if d := r.get(t, sent); d.Status != StatusQueued || d.Attempts != 0 {
		t.Errorf("after resend: %+v", d)
	}

	// Revoking i-2's code stops its queued invitation and erases the body.
	var n int
	if err := inTx(func(tx *sql.Tx) (err error) {
		n, err = r.outbox.CancelInvitations(ctx, tx, "m-1", "i-2", r.clock.Now())
		return err
	}); err != nil || n != 1 {
		t.Fatalf("cancel: n=%d err=%v", n, err)
	}
	if d := r.get(t, queued); d.Status != StatusCancelled || d.Resendable {
		t.Errorf("after cancel: %+v", d)
	}
	if err := inTx(func(tx *sql.Tx) error { return r.outbox.Resend(ctx, tx, queued, r.clock.Now()) }); !errors.Is(err, ErrErased) {
		t.Errorf("resend cancelled: %v", err)
	}
	r.runOnce(t, w)
	ds, err := r.outbox.Status(ctx, "m-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[DeliveryID]Status{}
	for _, d := range ds {
		got[d.ID] = d.Status
	}
	if len(ds) != 3 || got[sent] != StatusSent || got[queued] != StatusCancelled || got[other] != StatusSent {
		t.Errorf("status = %v", got)
	}
	if ds, _ := r.outbox.Status(ctx, "m-2"); len(ds) != 0 {
		t.Errorf("other meeting shows %d deliveries", len(ds))
	}

	// The meeting is over: every body goes, the history stays.
	if err := inTx(func(tx *sql.Tx) error { return r.outbox.Forget(ctx, tx, "m-1", r.clock.Now()) }); err != nil {
		t.Fatal(err)
	}
	var bodies int
	if err := r.db.QueryRow(`SELECT COUNT(*) FROM mail_outbox WHERE sealed IS NOT NULL`).Scan(&bodies); err != nil || bodies != 0 {
		t.Errorf("bodies left after Forget: %d (%v)", bodies, err)
	}
	if err := inTx(func(tx *sql.Tx) error { return r.outbox.Resend(ctx, tx, sent, r.clock.Now()) }); !errors.Is(err, ErrErased) {
		t.Errorf("resend after forget: %v", err)
	}
	if ds, _ := r.outbox.Status(ctx, "m-1"); len(ds) != 3 {
		t.Errorf("history lost: %d rows", len(ds))
	}
}

func TestSealing(t *testing.T) {
	t.Run("a body cannot move to another row", func(t *testing.T) {
		r := newRig(t)
		a := r.invite(t)
		b := r.invite(t, func(i *Invitation) { i.InviteeID = "i-2"; i.To = "bo@extern.example" })
		if _, err := r.db.Exec(`UPDATE mail_outbox SET sealed = (SELECT sealed FROM mail_outbox WHERE id = ?) WHERE id = ?`, a, b); err != nil {
			t.Fatal(err)
		}
		var sentTo []string
		tr := transportFunc(func(_ context.Context, e Envelope) error { sentTo = append(sentTo, e.To); return nil })
		r.runOnce(t, r.worker(t, tr))
		if d := r.get(t, b); d.Status != StatusFailed || !strings.Contains(d.LastError, "authenticate") {
			t.Errorf("swapped body: %+v", d)
		}
		if len(sentTo) != 1 || sentTo[0] != "astrid.ostergard@extern.example" {
			t.Errorf("sent to %v", sentTo)
		}
	})
	t.Run("key rotation", func(t *testing.T) {
		r := newRig(t)
		id := r.invite(t)
		newKey := testKey(t, "the next server secret")
		without, _ := NewOutbox(r.db, newKey)
		with, _ := NewOutbox(r.db, newKey, r.key)
		delivered := 0
		tr := transportFunc(func(context.Context, Envelope) error { delivered++; return nil })
		r.outbox = with
		r.runOnce(t, r.worker(t, tr))
		if d := r.get(t, id); d.Status != StatusSent || delivered != 1 {
			t.Fatalf("with the previous key: %+v", d)
		}
		id2 := func() DeliveryID { r.outbox = &Outbox{db: r.db, sealer: mustSealer(t, r.key)}; return r.invite(t) }()
		r.outbox = without
		r.runOnce(t, r.worker(t, tr))
		if d := r.get(t, id2); d.Status != StatusFailed || !strings.Contains(d.LastError, "key") {
			t.Errorf("without the previous key: %+v", d)
		}
	})
	t.Run("bad keys", func(t *testing.T) {
		if _, err := NewOutbox(openDB(t, filepath.Join(t.TempDir(), "x.db")), make([]byte, 16)); err == nil {
			t.Error("16-byte key accepted")
		}
		if _, err := DeriveKey([]byte("short")); err == nil {
			t.Error("short secret accepted")
		}
	})
}

func mustSealer(t *testing.T, key []byte) *sealer {
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Report runs in the transaction that records the outcome: what it writes
// commits with it, and if it fails the outcome is not recorded.
func TestReportSharesTransaction(t *testing.T) {
	r := newRig(t)
	if _, err := r.db.Exec(`CREATE TABLE audit (delivery TEXT, status TEXT)`); err != nil {
		t.Fatal(err)
	}
	fail := true
	tr := transportFunc(func(context.Context, Envelope) error { return nil })
	w, err := NewWorker(WorkerConfig{Outbox: r.outbox, Transport: tr, Now: r.clock.Now, Lease: time.Minute,
		Logger: newLogger(r.logs),
		Report: func(ctx context.Context, tx *sql.Tx, res Result) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit VALUES (?, ?)`, res.ID, res.Status); err != nil {
				return err
			}
			if fail {
				return errors.New("audit store unavailable")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	id := r.invite(t)
	if _, err := w.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "audit store unavailable") {
		t.Fatalf("RunOnce err = %v", err)
	}
	var n int
	r.db.QueryRow(`SELECT COUNT(*) FROM audit`).Scan(&n)
	if d := r.get(t, id); d.Status != StatusSending || n != 0 {
		t.Fatalf("after failed report: %+v, audit rows %d", d, n)
	}
	fail = false
	r.clock.Add(time.Minute)
	if _, err := w.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var status string
	r.db.QueryRow(`SELECT COUNT(*), MAX(status) FROM audit`).Scan(&n, &status)
	if d := r.get(t, id); d.Status != StatusSent || n != 1 || status != "sent" {
		t.Fatalf("after report: %+v, audit rows %d %q", d, n, status)
	}
}

// Run picks up mail on Notify and stops with its context.
func TestRunLoop(t *testing.T) {
	r := newRig(t)
	delivered := make(chan DeliveryID, 4)
	tr := transportFunc(func(_ context.Context, e Envelope) error { delivered <- e.ID; return nil })
	w, err := NewWorker(WorkerConfig{Outbox: r.outbox, Transport: tr, Now: r.clock.Now, Poll: time.Hour, Logger: newLogger(r.logs)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	id := r.invite(t)
	w.Notify()
	select {
	case got := <-delivered:
		if got != id {
			t.Errorf("delivered %s, want %s", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Notify did not wake the worker")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	p := DefaultRetryPolicy
	tests := []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0.5, time.Minute},
		{2, 0.5, 3 * time.Minute},
		{5, 0.5, 81 * time.Minute},
		{7, 0.5, 12 * time.Hour}, // 729 min capped
		{1, 0, 48 * time.Second},
		{1, 0.999999, 72 * time.Second},
	}
	for _, tt := range tests {
		got := p.Delay(tt.attempt, tt.r)
		if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.attempt, tt.r, got, tt.want)
		}
	}
	var total time.Duration
	for i := 1; i < p.MaxAttempts; i++ {
		total += p.Delay(i, 0.5)
	}
	if total < 12*time.Hour || total > 30*time.Hour {
		t.Errorf("all retries span %v, want roughly a day", total)
	}
}
