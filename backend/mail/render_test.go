package mail

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/locales"
)

// parsed is a rendered message decoded the way a mail client would.
type parsed struct {
	Header  mail.Header
	Subject string
	From    *mail.Address
	To      *mail.Address
	Text    string
	HTML    string
}

func parseEML(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	var p parsed
	p.Header = m.Header
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	if p.From, err = mail.ParseAddress(m.Header.Get("From")); err != nil {
		t.Fatalf("From: %v", err)
	}
	if p.To, err = mail.ParseAddress(m.Header.Get("To")); err != nil {
		t.Fatalf("To: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		ct, cparams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if got, want := strings.ToLower(cparams["charset"]), "utf-8"; got != want {
			t.Errorf("%s charset = %q, want %q", ct, got, want)
		}
		if got, want := part.Header.Get("Content-Transfer-Encoding"), "quoted-printable"; got != want {
			t.Errorf("%s transfer encoding = %q, want %q", ct, got, want)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatalf("decode %s: %v", ct, err)
		}
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("want a text and an HTML part")
	}
	return p
}

func testInvitation(lang locales.Lang) Invitation {
	start := time.Date(2025, 12, 9, 13, 0, 0, 0, time.UTC) // 14:00 in Stockholm (CET)
	return Invitation{
		Lang: lang, MeetingID: "m-1", InviteeID: "i-1",
		To: "astrid.ostergard@extern.example", ToName: "Astrid Östergård", Organizer: "Åke Ström",
		Title: "Styrelsemöte – åtgärder för Öresund", Start: start, End: start.Add(90 * time.Minute),
		JoinURL: "https://motesvakt.kommun.example/join/m-1", Code: "k7mp-q2xz",
	}
}

var renderNow = time.Date(2025, 12, 1, 8, 0, 0, 0, time.UTC)

func TestInvitation(t *testing.T) {
	r, err := NewRenderer("Mötesvakt <noreply@kommun.example>")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lang     locales.Lang
		subject  string
		when     string
		validity string
		phrases  []string
	}{
		{
			lang:     locales.Swedish,
			subject:  "Inbjudan: Styrelsemöte – åtgärder för Öresund",
			when:     "Tid: tisdag 9 december 2025 kl. 14:00–15:30 (svensk tid)",
			validity: "Koden fungerar från tisdag 9 december 2025 kl. 13:30 (svensk tid) till mötets slut.",
			phrases:  []string{"Hej Astrid Östergård!", "Åke Ström har bjudit in dig", "Din personliga kod: K7MP-Q2XZ", "personlig", "väntrum"},
		},
		{
			lang:     locales.English,
			subject:  "Invitation: Styrelsemöte – åtgärder för Öresund",
			when:     "When: Tuesday 9 December 2025, 14:00–15:30 (Swedish time)",
			validity: "The code works from Tuesday 9 December 2025 at 13:30 (Swedish time) until the meeting ends.",
			phrases:  []string{"Hello Astrid Östergård,", "Åke Ström has invited you", "Your personal code: K7MP-Q2XZ", "personal", "lobby"},
		},
	}
	for _, tt := range tests {
		t.Run(string(tt.lang), func(t *testing.T) {
			msg, err := r.Invitation(testInvitation(tt.lang), renderNow)
			if err != nil {
				t.Fatal(err)
			}
			p := parseEML(t, msg.EML())
			if got, want := p.Subject, tt.subject; got != want {
				t.Errorf("Subject = %q, want %q", got, want)
			}
			if got, want := p.From.Name+" <"+p.From.Address+">", "Mötesvakt <noreply@kommun.example>"; got != want {
				t.Errorf("From = %q, want %q", got, want)
			}
			if got, want := p.To.Name+" <"+p.To.Address+">", "Astrid Östergård <astrid.ostergard@extern.example>"; got != want {
				t.Errorf("To = %q, want %q", got, want)
			}
			if got, want := p.Header.Get("Auto-Submitted"), "auto-generated"; got != want {
				t.Errorf("Auto-Submitted = %q, want %q", got, want)
			}
			if got, want := p.Header.Get("Message-Id"), "<"+msg.MessageID+">"; got != want {
				t.Errorf("Message-ID = %q, want %q", got, want)
			}
			if !strings.HasSuffix(msg.MessageID, "@kommun.example") {
				t.Errorf("Message-ID %q is not in the sender's domain", msg.MessageID)
			}
			if date, err := p.Header.Date(); err != nil || !date.Equal(renderNow) {
				t.Errorf("Date = %v (%v), want %v", date, err, renderNow)
			}
			if got, want := p.Header.Get("Content-Language"), string(tt.lang); got != want {
				t.Errorf("Content-Language = %q, want %q", got, want)
			}
			for _, want := range append([]string{tt.when, tt.validity, "https://motesvakt.kommun.example/join/m-1"}, tt.phrases...) {
				if !strings.Contains(p.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, p.Text)
				}
			}
			for _, want := range []string{"K7MP-Q2XZ", `href="https://motesvakt.kommun.example/join/m-1"`, "Styrelsemöte – åtgärder för Öresund", `lang="` + string(tt.lang) + `"`} {
				if !strings.Contains(p.HTML, want) {
					t.Errorf("HTML part lacks %q", want)
				}
			}
			if strings.Contains(p.Text, "[mail.") || strings.Contains(p.HTML, "[mail.") {
				t.Errorf("a locale key is missing:\n%s", p.Text)
			}
			if got, want := msg.Recipient, "astrid.ostergard@extern.example"; got != want {
				t.Errorf("Recipient = %q, want %q", got, want)
			}
		})
	}
}

func TestInvitationTimes(t *testing.T) {
	r, err := NewRenderer("noreply@kommun.example")
	if err != nil {
		t.Fatal(err)
	}
	summer := time.Date(2026, 6, 15, 8, 0, 0, 0, time.UTC) // 10:00 CEST
	tests := []struct {
		name    string
		mutate  func(*Invitation)
		want    []string
		lang    locales.Lang
		notWant string
	}{
		{"summer time", func(i *Invitation) { i.Start, i.End = summer, summer.Add(time.Hour) },
			[]string{"måndag 15 juni 2026 kl. 10:00–11:00", "kl. 09:30"}, locales.Swedish, ""},
		{"across midnight", func(i *Invitation) { i.Start, i.End = summer.Add(12*time.Hour), summer.Add(15*time.Hour) },
			[]string{"måndag 15 juni 2026 kl. 22:00 – tisdag 16 juni 2026 kl. 01:00"}, locales.Swedish, ""},
		{"explicit validity", func(i *Invitation) { i.ValidFrom = i.Start.Add(-time.Hour) },
			[]string{"kl. 13:00 (svensk tid) till mötets slut"}, locales.Swedish, ""},
		{"recurring", func(i *Invitation) { i.Recurring = true },
			[]string{"each occurrence", "the first time from Tuesday 9 December 2025 at 13:30"}, locales.English, "until the meeting ends"},
		{"no names", func(i *Invitation) { i.ToName, i.Organizer = "", "" },
			[]string{"Hej!", "Du är inbjuden till mötet"}, locales.Swedish, "har bjudit in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := testInvitation(tt.lang)
			tt.mutate(&inv)
			msg, err := r.Invitation(inv, renderNow)
			if err != nil {
				t.Fatal(err)
			}
			text := parseEML(t, msg.EML()).Text
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			if tt.notWant != "" && strings.Contains(text, tt.notWant) {
				t.Errorf("text has %q", tt.notWant)
			}
		})
	}
}

func TestInvitationRefuses(t *testing.T) {
	r, err := NewRenderer("noreply@kommun.example")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Invitation)
		want   error
	}{
		{"code in query", func(i *Invitation) { i.JoinURL += "?code=K7MPQ2XZ" }, errCodeInLink},
		{"dashed code in path", func(i *Invitation) { i.JoinURL += "/k7mp-q2xz" }, errCodeInLink},
		{"escaped dash", func(i *Invitation) { i.JoinURL += "#K7MP%2DQ2XZ" }, errCodeInLink},
		{"relative link", func(i *Invitation) { i.JoinURL = "/join/m-1" }, errBadLink},
		{"javascript link", func(i *Invitation) { i.JoinURL = "javascript:alert(1)" }, errBadLink},
		{"short code", func(i *Invitation) { i.Code = "K7MP-Q2X" }, errBadCode},
		{"odd characters", func(i *Invitation) { i.Code = "K7MP-Q2X!" }, errBadCode},
		{"no recipient", func(i *Invitation) { i.To = "" }, errNoRecipient},
		{"bad recipient", func(i *Invitation) { i.To = "not an address" }, errNoRecipient},
		{"no end", func(i *Invitation) { i.End = time.Time{} }, errBadTimes},
		{"end before start", func(i *Invitation) { i.End = i.Start.Add(-time.Minute) }, errBadTimes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := testInvitation(locales.Swedish)
			tt.mutate(&inv)
			_, err := r.Invitation(inv, renderNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(strings.ToUpper(err.Error()), "K7MP") {
				t.Errorf("error %q reveals the code", err)
			}
		})
	}
}

// A calendar title with CR/LF must not smuggle in a header (here a Bcc).
func TestInvitationHeaderInjection(t *testing.T) {
	r, err := NewRenderer("noreply@kommun.example")
	if err != nil {
		t.Fatal(err)
	}
	inv := testInvitation(locales.Swedish)
	inv.Title = "Möte\r\nBcc: spion@evil.example\r\n\r\n<b>fet</b>"
	inv.ToName = "Eva\nCc: x@evil.example"
	msg, err := r.Invitation(inv, renderNow)
	if err != nil {
		t.Fatal(err)
	}
	p := parseEML(t, msg.EML())
	if got := p.Header.Get("Bcc") + p.Header.Get("Cc"); got != "" {
		t.Fatalf("injected header: %q", got)
	}
	if got, want := p.Subject, "Inbjudan: Möte Bcc: spion@evil.example <b>fet</b>"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if strings.Contains(p.HTML, "<b>fet</b>") || !strings.Contains(p.HTML, "&lt;b&gt;fet&lt;/b&gt;") {
		t.Errorf("title is not escaped in HTML")
	}
}

func TestRevocation(t *testing.T) {
	r, err := NewRenderer("Mötesvakt <noreply@kommun.example>")
	if err != nil {
		t.Fatal(err)
	}
	inv := testInvitation(locales.Swedish)
	msg, err := r.Revocation(Revocation{Lang: locales.Swedish, MeetingID: inv.MeetingID, InviteeID: inv.InviteeID,
		To: inv.To, ToName: inv.ToName, Title: inv.Title, Start: inv.Start, End: inv.End}, renderNow)
	if err != nil {
		t.Fatal(err)
	}
	p := parseEML(t, msg.EML())
	if got, want := p.Subject, "Inbjudan återkallad: Styrelsemöte – åtgärder för Öresund"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if got, want := p.Header.Get("Auto-Submitted"), "auto-generated"; got != want {
		t.Errorf("Auto-Submitted = %q, want %q", got, want)
	}
	for _, w := range []string{"har återkallats", "tisdag 9 december 2025 kl. 14:00–15:30 (svensk tid)", "ny inbjudan"} {
		if !strings.Contains(p.Text, w) {
			t.Errorf("text lacks %q:\n%s", w, p.Text)
		}
	}
	if got, want := msg.Kind, KindRevocation; got != want {
		t.Errorf("Kind = %q, want %q", got, want)
	}
}
