package http

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/meetings"
	"github.com/motesvakt/motesvakt/backend/web"
	"github.com/motesvakt/motesvakt/locales"
)

// joinPage asks a guest for e-mail, code and name (or only a name on an
// open meeting's link). Signed-in users and guests who already redeemed go
// straight to the room, which puts them in the lobby where the profile says.
// Everyone else needs the current link, /join/{id}/{token}: a replaced
// token, or none, gets the "link replaced" page (410).
func (mr *meetingRoutes) joinPage(c echo.Context) error {
	id := backend.MeetingID(c.Param("id"))
	m, err := mr.svc.Meeting(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if sess := SessionOf(c); sess != nil && (sess.Kind == backend.SessionUser || sess.MeetingID == string(m.ID)) {
		return c.Redirect(http.StatusFound, "/m/"+string(m.ID))
	}
	loginURL := "/auth/login?return_to=" + url.QueryEscape("/m/"+string(m.ID))
	token := c.Param("token")
	ok, err := mr.svc.LinkValid(c.Request().Context(), m, token)
	if err != nil {
		return err
	}
	if !ok {
		// Neither the title nor the profile: the holder of an old link may
		// be exactly who the rotation is meant to shut out.
		p := mr.s.page(c, locales.T(Lang(c), "join.replaced_title"))
		p.Data = map[string]any{"Replaced": true, "LoginURL": loginURL}
		return mr.renderStatus(c, http.StatusGone, "join", p)
	}
	p := mr.s.page(c, m.Title)
	p.Script = "join.js"
	p.Messages = locales.For(Lang(c)).Messages("join.")
	p.Boot = map[string]any{"meeting": m.ID, "open": m.Settings.Guests == "link", "link": token}
	p.Data = map[string]any{"Meeting": publicView(m), "Open": m.Settings.Guests == "link", "LoginURL": loginURL}
	return mr.s.render(c, "join", p)
}

// renderStatus writes a page with a status other than 200.
func (mr *meetingRoutes) renderStatus(c echo.Context, status int, name string, p *web.Page) error {
	c.Response().Header().Set("Content-Type", "text/html; charset=utf-8")
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return mr.s.pages.Render(c.Response(), name, p)
}

// meetingView is what a guest may see of a meeting before joining: no guest
// list, no reasons, no host details beyond the title and time.
type meetingView struct {
	ID      backend.MeetingID `json:"id"`
	Title   string            `json:"title"`
	Profile string            `json:"profile"`
	Start   string            `json:"start"`
	End     string            `json:"end"`
}

func publicView(m *backend.Meeting) meetingView {
	return meetingView{ID: m.ID, Title: m.Title, Profile: string(m.Profile), Start: m.Start.Format("2006-01-02T15:04:05Z07:00"), End: m.End.Format("2006-01-02T15:04:05Z07:00")}
}

// roomPage is the meeting client. Without a session for this meeting it
// sends the visitor to the join page.
func (mr *meetingRoutes) roomPage(c echo.Context) error {
	ctx := c.Request().Context()
	m, err := mr.svc.Meeting(ctx, backend.MeetingID(c.Param("id")))
	if err != nil {
		return err
	}
	// Each page load is its own tab: a signed-in user can be in the room
	// from two tabs at once (and talk to themselves).
	tab := randomTab()
	who, err := mr.rooms.Identity(m, SessionOf(c), tab)
	if err != nil {
		if backend.ErrorCode(err) == backend.EUNAUTHORIZED || backend.ErrorCode(err) == backend.EFORBIDDEN && SessionOf(c) != nil && SessionOf(c).Kind == backend.SessionGuest && SessionOf(c).MeetingID != string(m.ID) {
			return c.Redirect(http.StatusFound, "/join/"+string(m.ID))
		}
		return err
	}
	p := mr.s.page(c, m.Title)
	p.Script = "room.js"
	p.Messages = locales.For(Lang(c)).Messages("room.", "classify.profile.")
	p.Boot = map[string]any{
		"meeting": publicView(m), "settings": m.Settings, "me": who,
		"signal": "/api/v1/meetings/" + string(m.ID) + "/signal?tab=" + tab,
	}
	p.Data = map[string]any{"Meeting": publicView(m), "Me": who}
	return mr.s.render(c, "room", p)
}

func (mr *meetingRoutes) hostPage(c echo.Context) (backend.Actor, error) {
	sess := SessionOf(c)
	if sess == nil || sess.Kind != backend.SessionUser {
		return backend.Actor{}, c.Redirect(http.StatusFound, "/auth/login?return_to="+url.QueryEscape(c.Request().URL.Path))
	}
	return backend.ActorFromSession(sess, c.RealIP()), nil
}

func (mr *meetingRoutes) listPage(c echo.Context) error {
	by, err := mr.hostPage(c)
	if by.Email == "" {
		return err
	}
	ms, err := mr.svc.MeetingsFor(c.Request().Context(), by)
	if err != nil {
		return err
	}
	p := mr.s.page(c, locales.T(Lang(c), "nav.meetings"))
	p.Data = ms
	return mr.s.render(c, "meetings", p)
}

func (mr *meetingRoutes) newPage(c echo.Context) error {
	by, err := mr.hostPage(c)
	if by.Email == "" {
		return err
	}
	if !by.HasRole(backend.RoleHost) {
		return backend.Errorf(backend.EFORBIDDEN, "meeting.not_host")
	}
	p := mr.s.page(c, locales.T(Lang(c), "nav.new_meeting"))
	p.Script = "host.js"
	p.Messages = locales.For(Lang(c)).Messages("host.", "classify.profile.", "classify.category.")
	p.Boot = map[string]any{"organizer": by.Email}
	return mr.s.render(c, "meeting_new", p)
}

func (mr *meetingRoutes) detailPage(c echo.Context) error {
	by, err := mr.hostPage(c)
	if by.Email == "" {
		return err
	}
	m, err := mr.svc.Meeting(c.Request().Context(), backend.MeetingID(c.Param("id")))
	if err != nil {
		return err
	}
	if err := meetings.CanView(by, m); err != nil {
		return err
	}
	p := mr.s.page(c, m.Title)
	p.Script = "host.js"
	p.Messages = locales.For(Lang(c)).Messages("host.", "classify.profile.", "classify.category.")
	p.Boot = map[string]any{"meeting": m.ID}
	p.Data = m
	return mr.s.render(c, "meeting", p)
}

// randomTab names one page load of the room (see rooms.ValidTab).
func randomTab() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
