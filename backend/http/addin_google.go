package http

import (
	"context"
	"errors"
	"html"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/backend/gcal"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// gEvent is the Workspace add-on event object (the parts we use).
type gEvent struct {
	CommonEventObject struct {
		UserLocale string `json:"userLocale"`
		FormInputs map[string]struct {
			StringInputs struct {
				Value []string `json:"value"`
			} `json:"stringInputs"`
		} `json:"formInputs"`
		Parameters map[string]string `json:"parameters"`
	} `json:"commonEventObject"`
	Calendar struct {
		CalendarID string `json:"calendarId"`
		ID         string `json:"id"`
		Organizer  struct {
			Email string `json:"email"`
		} `json:"organizer"`
		Attendees []struct {
			Email       string `json:"email"`
			DisplayName string `json:"displayName"`
			Resource    bool   `json:"resource"`
		} `json:"attendees"`
	} `json:"calendar"`
	AuthorizationEventObject struct {
		UserOAuthToken string `json:"userOAuthToken"`
		UserIDToken    string `json:"userIdToken"`
	} `json:"authorizationEventObject"`
}

func (g *gEvent) form(name string) string {
	if in, ok := g.CommonEventObject.FormInputs[name]; ok && len(in.StringInputs.Value) > 0 {
		return in.StringInputs.Value[0]
	}
	return ""
}

// Card JSON (Workspace add-on card markup). Structs keep field order stable
// for the golden files.
type (
	gCard struct {
		Header   gHeader    `json:"header"`
		Sections []gSection `json:"sections"`
	}
	gHeader struct {
		Title    string `json:"title"`
		Subtitle string `json:"subtitle,omitempty"`
		ImageURL string `json:"imageUrl,omitempty"`
	}
	gSection struct {
		Header  string    `json:"header,omitempty"`
		Widgets []gWidget `json:"widgets"`
	}
	gWidget struct {
		TextParagraph  *gText      `json:"textParagraph,omitempty"`
		DecoratedText  *gDecorated `json:"decoratedText,omitempty"`
		SelectionInput *gSelection `json:"selectionInput,omitempty"`
		TextInput      *gTextInput `json:"textInput,omitempty"`
		ButtonList     *gButtons   `json:"buttonList,omitempty"`
	}
	gText struct {
		Text string `json:"text"`
	}
	gDecorated struct {
		TopLabel string `json:"topLabel,omitempty"`
		Text     string `json:"text"`
		WrapText bool   `json:"wrapText,omitempty"`
	}
	gSelection struct {
		Name  string  `json:"name"`
		Label string  `json:"label"`
		Type  string  `json:"type"`
		Items []gItem `json:"items"`
	}
	gItem struct {
		Text     string `json:"text"`
		Value    string `json:"value"`
		Selected bool   `json:"selected"`
	}
	gTextInput struct {
		Name  string `json:"name"`
		Label string `json:"label"`
		Type  string `json:"type,omitempty"`
		Value string `json:"value,omitempty"`
	}
	gButtons struct {
		Buttons []gButton `json:"buttons"`
	}
	gButton struct {
		Text    string   `json:"text"`
		OnClick gOnClick `json:"onClick"`
	}
	gOnClick struct {
		Action   *gAction `json:"action,omitempty"`
		OpenLink *gLink   `json:"openLink,omitempty"`
	}
	gAction struct {
		Function      string   `json:"function"`
		Parameters    []gParam `json:"parameters,omitempty"`
		PersistValues bool     `json:"persistValues,omitempty"`
	}
	gParam struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	gLink struct {
		URL string `json:"url"`
	}
)

func pushCard(card gCard) map[string]any {
	return map[string]any{"action": map[string]any{"navigations": []any{map[string]any{"pushCard": card}}}}
}

func updateCard(card gCard, note string) map[string]any {
	act := map[string]any{"navigations": []any{map[string]any{"updateCard": card}}}
	if note != "" {
		act["notification"] = map[string]string{"text": note}
	}
	return map[string]any{"renderActions": map[string]any{"action": act}}
}

func notifyOnly(note string) map[string]any {
	return map[string]any{"renderActions": map[string]any{"action": map[string]any{"notification": map[string]string{"text": note}}}}
}

func (a *addins) googleRoutes() {
	e := a.s.echo
	e.POST("/addin/google/home", a.googleHome)
	e.POST("/addin/google/event-open", a.googleEvent)
	e.POST("/addin/google/event-update", a.googleEvent)
	e.POST("/addin/google/apply", a.googleApply)
}

// googleAuth checks Google's system ID token: audience is the exact URL
// Google called, so each endpoint verifies its own.
func (a *addins) googleAuth(c echo.Context) (*gEvent, locales.Lang, error) {
	if a.cfg.Google == nil {
		return nil, "", backend.Errorf(backend.ENOTFOUND, "error.not_found")
	}
	raw, ok := auth.BearerToken(c.Request().Header.Get("Authorization"))
	if !ok {
		return nil, "", backend.Errorf(backend.EUNAUTHORIZED, "addin.error.token")
	}
	if err := a.cfg.Google.VerifySystem(c.Request().Context(), raw, a.params().Base+c.Request().URL.Path); err != nil {
		a.s.log.Warn("google add-on token rejected", "route", c.Path(), "err", err)
		return nil, "", err
	}
	var ev gEvent
	if err := decodeJSON(c, &ev); err != nil {
		return nil, "", err
	}
	return &ev, locales.Parse(ev.CommonEventObject.UserLocale), nil
}

func (a *addins) googleHome(c echo.Context) error {
	_, lang, err := a.googleAuth(c)
	if err != nil {
		return err
	}
	p := locales.For(lang)
	return c.JSON(http.StatusOK, pushCard(gCard{Header: a.gHeader(p), Sections: []gSection{{Widgets: []gWidget{{TextParagraph: &gText{Text: html.EscapeString(p.T("addin.google.home"))}}}}}}))
}

func (a *addins) gHeader(p *locales.Printer) gHeader {
	return gHeader{Title: p.T("addin.title"), Subtitle: p.T("addin.google.subtitle"), ImageURL: a.params().Base + "/addin/outlook/icon-128.png"}
}

// loadGoogleEvent reads the event with the user's OAuth token. An event
// still being created may not exist yet; then only the event object's
// attendees are known.
func (a *addins) loadGoogleEvent(ctx context.Context, g *gEvent) (*calendar.Service, *calendar.Event, classifiers.Event, error) {
	var ts oauth2.TokenSource
	if g.AuthorizationEventObject.UserOAuthToken != "" {
		ts = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: g.AuthorizationEventObject.UserOAuthToken, TokenType: "Bearer"})
	}
	svc, err := gcal.NewService(ctx, ts, a.cfg.GoogleCalendarURL, a.cfg.GoogleHTTPClient)
	if err != nil {
		return nil, nil, classifiers.Event{}, err
	}
	var e *calendar.Event
	var ev classifiers.Event
	if g.Calendar.ID != "" {
		e, err = gcal.FetchEvent(ctx, svc, gcal.Retrier{Attempts: 2}, g.Calendar.CalendarID, g.Calendar.ID)
		if err != nil && !errors.Is(err, gcal.ErrDeleted) {
			a.s.log.Warn("google add-on: event not readable; using the event object", "err", err)
		}
		if err != nil {
			e = nil
		}
	}
	if e != nil {
		ev = gcal.ToEvent(e)
	} else {
		ev = classifiers.Event{Provider: string(backend.ProviderGoogle), Organizer: classifiers.Attendee{Email: g.Calendar.Organizer.Email}}
	}
	if len(g.Calendar.Attendees) > 0 {
		// The open editor's attendees are newer than the saved event's.
		ev.Attendees = nil
		for _, at := range g.Calendar.Attendees {
			if !at.Resource && at.Email != "" {
				ev.Attendees = append(ev.Attendees, classifiers.Attendee{Email: at.Email, Name: at.DisplayName})
			}
		}
	}
	return svc, e, ev, nil
}

func (a *addins) googleEvent(c echo.Context) error {
	g, lang, err := a.googleAuth(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := locales.For(lang)
	if g.Calendar.ID == "" {
		return c.JSON(http.StatusOK, pushCard(gCard{Header: a.gHeader(p), Sections: []gSection{{Widgets: []gWidget{{TextParagraph: &gText{Text: html.EscapeString(p.T("addin.error.no_event"))}}}}}}))
	}
	_, e, ev, err := a.loadGoogleEvent(ctx, g)
	if err != nil {
		return err
	}
	res, _, err := a.svc.Classify(ctx, ev, lang)
	if err != nil {
		return inputError(err)
	}
	var m *backend.Meeting
	if e != nil {
		if id := gcal.MeetingIDOf(e); id != "" {
			m, _ = a.svc.Meeting(ctx, id)
		}
	}
	return c.JSON(http.StatusOK, pushCard(a.profileCard(p, res, m, "")))
}

// profileCard shows the suggestion, the reasons, the meeting if there is
// one, and the choice form. Google's dropdown cannot disable an item, so a
// forbidden downgrade is simply not offered.
func (a *addins) profileCard(p *locales.Printer, res classifiers.Result, m *backend.Meeting, chosenReason string) gCard {
	esc := html.EscapeString
	top := gSection{Widgets: []gWidget{
		{DecoratedText: &gDecorated{TopLabel: p.T("addin.suggested"), Text: "<b>" + esc(p.T("classify.profile."+string(res.Profile))) + "</b>", WrapText: true}},
		{TextParagraph: &gText{Text: esc(res.Explanation)}},
	}}
	reasons := gSection{Header: p.T("addin.reasons")}
	for _, r := range res.Reasons {
		reasons.Widgets = append(reasons.Widgets, gWidget{DecoratedText: &gDecorated{TopLabel: p.T("classify.category." + string(r.Category)), Text: esc(p.T("addin.field."+r.Field)) + ": ”" + esc(r.Match) + "”", WrapText: true}})
	}
	if len(res.Reasons) == 0 {
		reasons.Widgets = append(reasons.Widgets, gWidget{TextParagraph: &gText{Text: esc(p.T("addin.no_reasons"))}})
	}
	if len(res.ExternalDomains) > 0 {
		reasons.Widgets = append(reasons.Widgets, gWidget{TextParagraph: &gText{Text: esc(p.T("addin.external", "Domains", strings.Join(res.ExternalDomains, ", ")))}})
	}
	sections := []gSection{top, reasons}
	chosen := res.Profile
	if m != nil {
		chosen = m.Profile
		sections = append(sections, gSection{Widgets: []gWidget{
			{DecoratedText: &gDecorated{Text: esc(p.T("addin.chosen", "Profile", p.T("classify.profile."+string(m.Profile)))), WrapText: true}},
			{ButtonList: &gButtons{Buttons: []gButton{{Text: p.T("addin.google.join"), OnClick: gOnClick{OpenLink: &gLink{URL: m.JoinURL}}}}}},
		}})
	}
	sel := &gSelection{Name: "profile", Label: p.T("addin.choose"), Type: "DROPDOWN"}
	for _, pr := range classifiers.Profiles {
		if res.Downgrade == "forbidden" && pr.Rank() < res.Profile.Rank() {
			continue
		}
		sel.Items = append(sel.Items, gItem{Text: p.T("classify.profile." + string(pr)), Value: string(pr), Selected: pr == chosen})
	}
	form := gSection{Header: p.T("addin.choose"), Widgets: []gWidget{
		{SelectionInput: sel},
		{TextInput: &gTextInput{Name: "reason", Label: p.T("addin.reason_label"), Type: "MULTIPLE_LINE", Value: chosenReason}},
		{ButtonList: &gButtons{Buttons: []gButton{{Text: p.T("addin.apply"), OnClick: gOnClick{Action: &gAction{Function: a.params().Base + "/addin/google/apply", PersistValues: true}}}}}},
	}}
	if res.Downgrade == "forbidden" && res.Profile != classifiers.ProfileOpen {
		form.Widgets = append(form.Widgets, gWidget{TextParagraph: &gText{Text: esc(p.T("addin.forbidden_hint"))}})
	}
	return gCard{Header: a.gHeader(p), Sections: append(sections, form)}
}

// googleApply provisions with the host's choice and writes the meeting
// back into the event through the Calendar API (location, description,
// extendedProperties.private). Choice errors come back as a notification.
func (a *addins) googleApply(c echo.Context) error {
	g, lang, err := a.googleAuth(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := locales.For(lang)
	user, err := a.cfg.Google.VerifyUser(ctx, g.AuthorizationEventObject.UserIDToken, a.cfg.GoogleOAuthClientID)
	if err != nil {
		a.s.log.Warn("google add-on user token rejected", "err", err)
		return err
	}
	svc, e, ev, err := a.loadGoogleEvent(ctx, g)
	if err != nil {
		return err
	}
	if e == nil {
		// Not saved yet: there is no event to tie the meeting to.
		return c.JSON(http.StatusOK, notifyOnly(p.T("addin.error.no_event")))
	}
	res, _, err := a.svc.Classify(ctx, ev, lang)
	if err != nil {
		return inputError(err)
	}
	req := backend.ProvisionRequest{Event: ev, Profile: classifiers.Profile(g.form("profile")), OverrideReason: g.form("reason"), EventRef: gcal.Ref(e), Lang: lang}
	if err := checkChoice(res, &req); err != nil {
		key, _ := backend.ErrorKey(err)
		return c.JSON(http.StatusOK, notifyOnly(p.T(key)))
	}
	actor := backend.Actor{UserID: auth.UserIDFor(user.Issuer, user.Subject), Email: user.Email, IP: c.RealIP()}
	if a.s.cfg.Internal.Internal(user.Email) {
		actor.Roles = []backend.Role{backend.RoleHost}
	}
	m, err := a.svc.Provision(ctx, actor, req)
	if err != nil {
		return err
	}
	if err := gcal.WriteBack(ctx, svc, gcal.Retrier{Attempts: 2}, g.Calendar.CalendarID, e, m, lang); err != nil {
		return backend.Wrap(err, "google add-on: write back meeting %s", m.ID)
	}
	return c.JSON(http.StatusOK, updateCard(a.profileCard(p, res, m, req.OverrideReason), p.T("addin.google.applied", "Profile", p.T("classify.profile."+string(m.Profile)))))
}
