package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Stockholm must render right even on hosts without zoneinfo.
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"github.com/motesvakt/motesvakt/locales"
)

// MeetingID and InviteeID name the rows of other packages this package refers
// to by value only (no foreign keys across packages).
type (
	MeetingID  string
	InviteeID  string
	DeliveryID string
)

// Kind says what a message is about.
type Kind string

const (
	KindInvitation Kind = "invitation"
	KindRevocation Kind = "revocation"
)

// Message is one rendered mail, ready to enqueue. Its bytes contain the
// guest's code, so it is never logged and only ever stored sealed.
type Message struct {
	Kind      Kind
	MeetingID MeetingID
	InviteeID InviteeID
	// Recipient is the bare address (envelope RCPT TO and the To header).
	Recipient string
	// MessageID is the Message-ID header without angle brackets.
	MessageID string

	raw    []byte
	redact []string
}

// EML returns a copy of the complete RFC 5322 message. It contains the code:
// callers hand it to a transport or a test, never to a log.
func (m *Message) EML() []byte { return bytes.Clone(m.raw) }

// Invitation is what a guest's personal mail says.
type Invitation struct {
	Lang      locales.Lang
	MeetingID MeetingID
	InviteeID InviteeID
	To        string // e-mail address
	ToName    string // optional display name
	Organizer string // optional display name of the host who invited
	Title     string
	Start     time.Time
	End       time.Time
	// ValidFrom is when the code starts to work; zero means 30 minutes before
	// Start, which is backend/guestcode's window.
	ValidFrom time.Time
	Recurring bool
	// JoinURL is the meeting's join_url. It must not contain the code.
	JoinURL string
	// Code is the guest's one-time code, with or without the dash.
	Code string
}

// Revocation tells a guest that their code no longer works.
type Revocation struct {
	Lang      locales.Lang
	MeetingID MeetingID
	InviteeID InviteeID
	To        string
	ToName    string
	Title     string
	Start     time.Time
	End       time.Time
}

// DefaultValidityLead is how long before the start a code starts to work.
const DefaultValidityLead = 30 * time.Minute

// Renderer builds messages. It is safe for concurrent use.
type Renderer struct {
	from     mail.Address
	location *time.Location
}

// NewRenderer takes the From header, e.g. "Mötesvakt <noreply@kommun.se>".
func NewRenderer(from string) (*Renderer, error) {
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: from address %q: %w", from, err)
	}
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return nil, fmt.Errorf("mail: load Europe/Stockholm: %w", err)
	}
	return &Renderer{from: *addr, location: loc}, nil
}

// From is the configured sender address (for the SMTP envelope).
func (r *Renderer) From() string { return r.from.Address }

var (
	errNoRecipient = errors.New("recipient address is missing or invalid")
	errBadCode     = errors.New("code must be 8 letters or digits")
	errCodeInLink  = errors.New("join link contains the code")
	errBadLink     = errors.New("join link must be an absolute http(s) URL")
	errBadTimes    = errors.New("meeting start and end are required and end must not be before start")
)

// Invitation renders the personal invitation. now becomes the Date header.
func (r *Renderer) Invitation(inv Invitation, now time.Time) (*Message, error) {
	to, err := parseRecipient(inv.To, inv.ToName)
	if err != nil {
		return nil, fmt.Errorf("mail: invitation for %s: %w", inv.InviteeID, err)
	}
	code, err := normalizeCode(inv.Code)
	if err != nil {
		return nil, fmt.Errorf("mail: invitation for %s: %w", inv.InviteeID, err)
	}
	if err := checkJoinURL(inv.JoinURL, code); err != nil {
		return nil, fmt.Errorf("mail: invitation for %s: %w", inv.InviteeID, err)
	}
	if inv.Start.IsZero() || inv.End.IsZero() || inv.End.Before(inv.Start) {
		return nil, fmt.Errorf("mail: invitation for %s: %w", inv.InviteeID, errBadTimes)
	}
	validFrom := inv.ValidFrom
	if validFrom.IsZero() {
		validFrom = inv.Start.Add(-DefaultValidityLead)
	}
	p := locales.For(inv.Lang)
	title := cleanLine(inv.Title)
	shown := formatCode(code)

	greeting := p.T("mail.invite.greeting_anonymous")
	if name := cleanLine(inv.ToName); name != "" {
		greeting = p.T("mail.invite.greeting", "Name", name)
	}
	intro := p.T("mail.invite.intro", "Title", title)
	if org := cleanLine(inv.Organizer); org != "" {
		intro = p.T("mail.invite.intro_organizer", "Title", title, "Organizer", org)
	}
	validKey := "mail.invite.valid_from"
	if inv.Recurring {
		validKey = "mail.invite.valid_recurring"
	}
	b := body{
		Lang:      string(p.Lang()),
		Greeting:  greeting,
		Intro:     intro,
		WhenLabel: p.T("mail.invite.when_label"),
		When:      r.formatRange(p, inv.Start, inv.End),
		LinkLabel: p.T("mail.invite.link_label"),
		Link:      inv.JoinURL,
		LinkNote:  p.T("mail.invite.link_note"),
		Button:    p.T("mail.invite.button"),
		CodeLabel: p.T("mail.invite.code_label"),
		Code:      shown,
		Paragraphs: []string{
			p.T("mail.invite.howto"),
			p.T(validKey, "ValidFrom", r.formatAt(p, validFrom)),
			p.T("mail.invite.personal"),
		},
		Footer: p.T("mail.footer"),
	}
	msg := &Message{
		Kind:      KindInvitation,
		MeetingID: inv.MeetingID,
		InviteeID: inv.InviteeID,
		Recipient: to.Address,
		redact:    []string{shown, code},
	}
	if err := r.build(msg, to, p.T("mail.invite.subject", "Title", title), p.Lang(), b, now); err != nil {
		return nil, fmt.Errorf("mail: invitation for %s: %w", inv.InviteeID, err)
	}
	return msg, nil
}

// Revocation renders the notice that a guest's code was revoked.
func (r *Renderer) Revocation(rv Revocation, now time.Time) (*Message, error) {
	to, err := parseRecipient(rv.To, rv.ToName)
	if err != nil {
		return nil, fmt.Errorf("mail: revocation for %s: %w", rv.InviteeID, err)
	}
	if rv.Start.IsZero() || rv.End.IsZero() || rv.End.Before(rv.Start) {
		return nil, fmt.Errorf("mail: revocation for %s: %w", rv.InviteeID, errBadTimes)
	}
	p := locales.For(rv.Lang)
	title := cleanLine(rv.Title)
	greeting := p.T("mail.revoke.greeting_anonymous")
	if name := cleanLine(rv.ToName); name != "" {
		greeting = p.T("mail.revoke.greeting", "Name", name)
	}
	b := body{
		Lang:     string(p.Lang()),
		Greeting: greeting,
		Intro:    p.T("mail.revoke.body", "Title", title, "When", r.formatRange(p, rv.Start, rv.End)),
		Paragraphs: []string{
			p.T("mail.revoke.reinvite"),
			p.T("mail.revoke.contact"),
		},
		Footer: p.T("mail.footer"),
	}
	msg := &Message{
		Kind:      KindRevocation,
		MeetingID: rv.MeetingID,
		InviteeID: rv.InviteeID,
		Recipient: to.Address,
	}
	if err := r.build(msg, to, p.T("mail.revoke.subject", "Title", title), p.Lang(), b, now); err != nil {
		return nil, fmt.Errorf("mail: revocation for %s: %w", rv.InviteeID, err)
	}
	return msg, nil
}

// body is the content shared by the text and HTML parts. Every field is plain
// text; the HTML template escapes it.
type body struct {
	Lang       string
	Greeting   string
	Intro      string
	WhenLabel  string
	When       string
	LinkLabel  string
	Link       string
	LinkNote   string
	Button     string
	CodeLabel  string
	Code       string
	Paragraphs []string
	Footer     string
}

func (b body) text() string {
	var s strings.Builder
	s.WriteString(b.Greeting + "\n\n" + b.Intro + "\n\n")
	if b.When != "" && b.WhenLabel != "" {
		s.WriteString(b.WhenLabel + ": " + b.When + "\n")
	}
	if b.Link != "" {
		s.WriteString(b.LinkLabel + ": " + b.Link + "\n")
	}
	if b.Code != "" {
		s.WriteString(b.CodeLabel + ": " + b.Code + "\n")
	}
	if b.Link != "" || b.Code != "" || b.WhenLabel != "" {
		s.WriteString("\n")
	}
	if b.LinkNote != "" {
		s.WriteString(b.LinkNote + "\n\n")
	}
	for _, p := range b.Paragraphs {
		s.WriteString(p + "\n\n")
	}
	// "-- " is the RFC 3676 signature separator: clients grey out what follows.
	s.WriteString("-- \n" + b.Footer + "\n")
	return s.String()
}

var htmlBody = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head>
<body style="font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#1a1a1a;max-width:36em">
<p>{{.Greeting}}</p>
<p>{{.Intro}}</p>
{{if .Link}}<table role="presentation" style="border-collapse:collapse;margin:1em 0">
<tr><th scope="row" style="text-align:left;padding:4px 12px 4px 0">{{.WhenLabel}}</th><td>{{.When}}</td></tr>
<tr><th scope="row" style="text-align:left;padding:4px 12px 4px 0">{{.LinkLabel}}</th><td><a href="{{.Link}}">{{.Link}}</a></td></tr>
{{if .Code}}<tr><th scope="row" style="text-align:left;padding:4px 12px 4px 0">{{.CodeLabel}}</th><td><code style="font-size:22px;letter-spacing:2px;font-weight:bold">{{.Code}}</code></td></tr>
{{end}}</table>
<p><a href="{{.Link}}" style="display:inline-block;padding:10px 18px;background:#1d4f91;color:#ffffff;text-decoration:none;border-radius:4px">{{.Button}}</a></p>
{{if .LinkNote}}<p style="font-size:14px">{{.LinkNote}}</p>
{{end}}{{end}}{{range .Paragraphs}}<p>{{.}}</p>
{{end}}<hr style="border:none;border-top:1px solid #cccccc">
<p style="font-size:13px;color:#555555">{{.Footer}}</p>
</body></html>
`))

// build assembles the MIME message with go-mail and stores its bytes in msg.
func (r *Renderer) build(msg *Message, to *mail.Address, subject string, lang locales.Lang, b body, now time.Time) error {
	var html bytes.Buffer
	if err := htmlBody.Execute(&html, b); err != nil {
		return fmt.Errorf("html part: %w", err)
	}
	id, err := newMessageID(r.from.Address)
	if err != nil {
		return err
	}
	m := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP))
	m.FromMailAddress(&r.from)
	m.ToMailAddress(to)
	m.Subject(cleanLine(subject))
	m.SetMessageIDWithValue(id)
	m.SetDateWithValue(now.In(r.location)) // local offset, as a Swedish sender would write it
	m.SetUserAgent("Mötesvakt")
	// RFC 3834: tells auto-responders (vacation replies) not to answer.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	// Exchange ignores Auto-Submitted for some auto-replies; this covers it.
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetGenHeader(gomail.HeaderContentLang, string(lang))
	m.SetBodyString(gomail.TypeTextPlain, b.text())
	m.AddAlternativeString(gomail.TypeTextHTML, html.String())
	var raw bytes.Buffer
	if _, err := m.WriteTo(&raw); err != nil {
		return fmt.Errorf("write MIME: %w", err)
	}
	msg.raw = raw.Bytes()
	msg.MessageID = id
	return nil
}

func newMessageID(from string) (string, error) {
	domain := "motesvakt.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at+1 < len(from) {
		domain = from[at+1:]
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return hex.EncodeToString(b[:]) + "@" + domain, nil
}

func parseRecipient(addr, name string) (*mail.Address, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(addr))
	if err != nil || a.Address == "" {
		return nil, errNoRecipient
	}
	return &mail.Address{Name: cleanLine(name), Address: a.Address}, nil
}

// normalizeCode accepts "ABCD-EFGH", "abcd efgh" or "ABCDEFGH" and returns
// the eight characters upper-cased. The alphabet itself is guestcode's.
func normalizeCode(s string) (string, error) {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '-' || c == ' ':
		case c >= 'a' && c <= 'z':
			b.WriteRune(c - 'a' + 'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			return "", errBadCode
		}
	}
	if b.Len() != 8 {
		return "", errBadCode
	}
	return b.String(), nil
}

func formatCode(code string) string { return code[:4] + "-" + code[4:] }

// checkJoinURL refuses links that could carry the code: the rule is
// that a URL never does, and links end up in proxy logs and browser history.
func checkJoinURL(link, code string) error {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errBadLink
	}
	flat := strings.ToUpper(link)
	if dec, err := url.PathUnescape(flat); err == nil {
		flat = dec
	}
	flat = strings.NewReplacer("-", "", " ", "", "+", "").Replace(strings.ToUpper(flat))
	if strings.Contains(flat, code) {
		return errCodeInLink
	}
	return nil
}

// cleanLine makes calendar-supplied text safe for a header and a single line:
// control characters (CR/LF header injection) become spaces, runs of space
// collapse, and very long titles are cut.
func cleanLine(s string) string {
	const maxRunes = 200
	var b strings.Builder
	space, n := false, 0
	for _, c := range s {
		if unicode.IsControl(c) || unicode.IsSpace(c) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if n == maxRunes {
			b.WriteRune('…')
			break
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}

func (r *Renderer) date(p *locales.Printer, t time.Time) string {
	return p.T("mail.time.date",
		"Weekday", p.T("mail.weekday."+strconv.Itoa(int(t.Weekday()))),
		"Day", t.Day(),
		"Month", p.T("mail.month."+strconv.Itoa(int(t.Month()))),
		"Year", t.Year())
}

func (r *Renderer) clock(p *locales.Printer, t time.Time) string {
	return p.T("mail.time.clock", "Hour", fmt.Sprintf("%02d", t.Hour()), "Minute", fmt.Sprintf("%02d", t.Minute()))
}

// formatAt renders one instant in Stockholm time, e.g. "tisdag 9 december
// 2025 kl. 13:30 (svensk tid)".
func (r *Renderer) formatAt(p *locales.Printer, t time.Time) string {
	t = t.In(r.location)
	return p.T("mail.time.zone", "Text", p.T("mail.time.at", "Date", r.date(p, t), "Clock", r.clock(p, t)))
}

// formatRange renders a meeting's time, on one day or across days.
func (r *Renderer) formatRange(p *locales.Printer, start, end time.Time) string {
	start, end = start.In(r.location), end.In(r.location)
	var s string
	if y1, m1, d1 := start.Date(); y1 == end.Year() && m1 == end.Month() && d1 == end.Day() {
		s = p.T("mail.time.range", "Date", r.date(p, start), "Start", r.clock(p, start), "End", r.clock(p, end))
	} else {
		s = p.T("mail.time.range_days", "StartDate", r.date(p, start), "Start", r.clock(p, start),
			"EndDate", r.date(p, end), "End", r.clock(p, end))
	}
	return p.T("mail.time.zone", "Text", s)
}
