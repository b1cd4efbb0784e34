package mail

import (
	"fmt"
	"net/url"
	"time"

	"github.com/motesvakt/motesvakt/locales"
)

// KindProfileRaised tells a host that a calendar change raised the
// meeting's protection level.
const KindProfileRaised Kind = "profile_raised"

// ProfileRaised is what the host's notice says. Profile names and the
// explanation arrive already localized (they come from the classifier).
type ProfileRaised struct {
	Lang        locales.Lang
	MeetingID   MeetingID
	To, ToName  string
	Title       string
	Start, End  time.Time
	From, ToP   string // profile names, before and after
	Explanation string
	// MeetingURL is the host's page for the meeting.
	MeetingURL string
}

// ProfileRaised renders the host's notice. It carries no code.
func (r *Renderer) ProfileRaised(pr ProfileRaised, now time.Time) (*Message, error) {
	to, err := parseRecipient(pr.To, pr.ToName)
	if err != nil {
		return nil, fmt.Errorf("mail: profile notice for %s: %w", pr.MeetingID, err)
	}
	if pr.Start.IsZero() || pr.End.IsZero() || pr.End.Before(pr.Start) {
		return nil, fmt.Errorf("mail: profile notice for %s: %w", pr.MeetingID, errBadTimes)
	}
	if u, err := url.Parse(pr.MeetingURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("mail: profile notice for %s: %w", pr.MeetingID, errBadLink)
	}
	p := locales.For(pr.Lang)
	title := cleanLine(pr.Title)
	greeting := p.T("mail.invite.greeting_anonymous")
	if name := cleanLine(pr.ToName); name != "" {
		greeting = p.T("mail.invite.greeting", "Name", name)
	}
	b := body{
		Lang:      string(p.Lang()),
		Greeting:  greeting,
		Intro:     p.T("mail.raised.body", "Title", title, "From", cleanLine(pr.From), "To", cleanLine(pr.ToP)),
		WhenLabel: p.T("mail.invite.when_label"),
		When:      r.formatRange(p, pr.Start, pr.End),
		LinkLabel: p.T("mail.raised.link_label"),
		Link:      pr.MeetingURL,
		Button:    p.T("mail.raised.button"),
		Paragraphs: []string{
			cleanLine(pr.Explanation),
			p.T("mail.raised.effects"),
		},
		Footer: p.T("mail.footer"),
	}
	msg := &Message{Kind: KindProfileRaised, MeetingID: pr.MeetingID, Recipient: to.Address}
	if err := r.build(msg, to, p.T("mail.raised.subject", "Title", title), p.Lang(), b, now); err != nil {
		return nil, fmt.Errorf("mail: profile notice for %s: %w", pr.MeetingID, err)
	}
	return msg, nil
}
