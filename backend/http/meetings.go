package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/meetings"
	"github.com/motesvakt/motesvakt/backend/rooms"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/sfu"
)

// GuestCodes redeems guests' one-time codes (backend/guestcode).
type GuestCodes interface {
	// Redeem returns the invitee id for a valid (meeting, email, code) and
	// when the code's window ends. Every failure is one uniform error; a
	// rate limit is an ETOOMANY.
	Redeem(ctx context.Context, meeting, email, code, ip string) (invitee string, validUntil time.Time, err error)
}

type meetingRoutes struct {
	s     *Server
	svc   *meetings.Service
	rooms *rooms.Manager
	codes GuestCodes
}

// WithMeetings adds classification, provisioning, guest join and the
// signaling endpoint.
func WithMeetings(svc *meetings.Service, rm *rooms.Manager, codes GuestCodes) Option {
	return func(s *Server) {
		mr := &meetingRoutes{s: s, svc: svc, rooms: rm, codes: codes}
		e := s.echo
		e.POST("/api/v1/classify", mr.classify)
		e.POST("/api/v1/meetings", mr.provision)
		e.GET("/api/v1/meetings", mr.list)
		e.GET("/api/v1/meetings/:id", mr.get)
		e.POST("/api/v1/meetings/:id/guests/:guest/revoke", mr.revokeGuest)
		e.POST("/api/v1/meetings/:id/guests/:guest/resend", mr.resendGuest)
		e.POST("/api/v1/meetings/:id/redeem", mr.redeem)
		e.POST("/api/v1/meetings/:id/join", mr.joinByLink)
		e.GET("/api/v1/meetings/:id/signal", mr.signal)
		e.GET("/api/v1/meetings/:id/room", mr.roomState)
		e.GET("/join/:id", mr.joinPage)
		e.GET("/join/:id/:token", mr.joinPage)
		e.GET("/m/:id", mr.roomPage)
		e.GET("/meetings", mr.listPage)
		e.GET("/meetings/new", mr.newPage)
		e.GET("/meetings/:id", mr.detailPage)
	}
}

// actor returns the signed-in host-capable user as an Actor.
func (mr *meetingRoutes) actor(c echo.Context) (backend.Actor, error) {
	sess, err := requireUser(c)
	if err != nil {
		return backend.Actor{}, err
	}
	return backend.ActorFromSession(sess, c.RealIP()), nil
}

func (mr *meetingRoutes) classify(c echo.Context) error {
	if _, err := mr.actor(c); err != nil {
		return err
	}
	var ev classifiers.Event
	if err := decodeEvent(c, &ev); err != nil {
		return err
	}
	res, version, err := mr.svc.Classify(c.Request().Context(), ev, Lang(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set("X-Rules-Version", strconv.FormatInt(version, 10))
	return c.JSON(http.StatusOK, res)
}

// decodeEvent decodes with the classifier's own decoder, whose errors carry
// stable codes (invalid_json, invalid_type, …) and localized messages.
func decodeEvent(c echo.Context, ev *classifiers.Event) error {
	body, err := readJSONBody(c)
	if err != nil {
		return err
	}
	e, err := classifiers.DecodeEvent(body)
	if err != nil {
		return classifierInput(err)
	}
	*ev = e
	return nil
}

func classifierInput(err error) error {
	var ie *classifiers.InputError
	if errors.As(err, &ie) {
		code := backend.EINVALID
		if ie.Code == classifiers.CodeTooLarge {
			code = backend.ETOOLARGE
		}
		return &backend.Error{Code: code, Key: "error.invalid", Field: ie.Field, Err: ie}
	}
	return err
}

func (mr *meetingRoutes) provision(c echo.Context) error {
	by, err := mr.actor(c)
	if err != nil {
		return err
	}
	var req backend.ProvisionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Lang == "" {
		req.Lang = Lang(c)
	}
	m, err := mr.svc.Provision(c.Request().Context(), by, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

func (mr *meetingRoutes) list(c echo.Context) error {
	by, err := mr.actor(c)
	if err != nil {
		return err
	}
	ms, err := mr.svc.MeetingsFor(c.Request().Context(), by)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []*backend.Meeting{}
	}
	return c.JSON(http.StatusOK, map[string]any{"meetings": ms})
}

// managed loads a meeting the caller may manage (its host or an admin).
func (mr *meetingRoutes) managed(c echo.Context) (backend.Actor, *backend.Meeting, error) {
	by, err := mr.actor(c)
	if err != nil {
		return by, nil, err
	}
	m, err := mr.svc.Meeting(c.Request().Context(), backend.MeetingID(c.Param("id")))
	if err != nil {
		return by, nil, err
	}
	if err := meetings.CanView(by, m); err != nil {
		return by, nil, err
	}
	return by, m, nil
}

func (mr *meetingRoutes) get(c echo.Context) error {
	_, m, err := mr.managed(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

func (mr *meetingRoutes) revokeGuest(c echo.Context) error {
	return mr.guestAction(c, mr.svc.RevokeGuest)
}

func (mr *meetingRoutes) resendGuest(c echo.Context) error {
	return mr.guestAction(c, mr.svc.ResendInvitation)
}

// guestAction runs a host's action on one guest and answers with the
// meeting as it now stands.
func (mr *meetingRoutes) guestAction(c echo.Context, act func(context.Context, backend.Actor, backend.MeetingID, backend.InviteeID) (*backend.Meeting, error)) error {
	by, err := mr.actor(c)
	if err != nil {
		return err
	}
	m, err := act(c.Request().Context(), by, backend.MeetingID(c.Param("id")), backend.InviteeID(c.Param("guest")))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

type redeemRequest struct {
	Email       string `json:"email"`
	Code        string `json:"code"`
	DisplayName string `json:"display_name"`
	// Link is the token of the join link the guest opened; it must still
	// be current, so an old forwarded link is no use even with a leaked
	// code.
	Link string `json:"link"`
}

// checkLink refuses a replaced join-link token before any code is checked.
func (mr *meetingRoutes) checkLink(c echo.Context, m *backend.Meeting, token string) error {
	ok, err := mr.svc.LinkValid(c.Request().Context(), m, token)
	if err != nil {
		return err
	}
	if !ok {
		return &backend.Error{Code: backend.EFORBIDDEN, Key: "join.link_replaced", Field: "link"}
	}
	return nil
}

// cleanDisplayName trims and checks a typed-in name: 1–80 printable runes.
func cleanDisplayName(s string) (string, error) {
	s = strings.Join(strings.Fields(s), " ")
	n := 0
	for _, r := range s {
		n++
		if !unicode.IsPrint(r) {
			return "", &backend.Error{Code: backend.EINVALID, Key: "meeting.bad_display_name", Field: "display_name"}
		}
	}
	if n == 0 || n > 80 {
		return "", &backend.Error{Code: backend.EINVALID, Key: "meeting.bad_display_name", Field: "display_name"}
	}
	return s, nil
}

// redeem turns (email, code) into a guest session for one meeting. A
// second redeem ends the older session and drops it from the room.
func (mr *meetingRoutes) redeem(c echo.Context) error {
	var req redeemRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name, err := cleanDisplayName(req.DisplayName)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m, err := mr.svc.Meeting(ctx, backend.MeetingID(c.Param("id")))
	if err != nil {
		return err
	}
	if err := mr.checkLink(c, m, req.Link); err != nil {
		return err
	}
	invitee, until, err := mr.codes.Redeem(ctx, string(m.ID), strings.ToLower(strings.TrimSpace(req.Email)), req.Code, c.RealIP())
	if err != nil {
		return err
	}
	var guest backend.Guest
	for _, g := range m.Guests {
		if string(g.ID) == invitee {
			guest = g
		}
	}
	return mr.startGuestSession(c, m, invitee, guest.Email, name, until)
}

// joinByLink admits a display-name-only guest to an open meeting's link.
func (mr *meetingRoutes) joinByLink(c echo.Context) error {
	var req redeemRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name, err := cleanDisplayName(req.DisplayName)
	if err != nil {
		return err
	}
	m, err := mr.svc.Meeting(c.Request().Context(), backend.MeetingID(c.Param("id")))
	if err != nil {
		return err
	}
	if m.Settings.Guests != "link" {
		return backend.Errorf(backend.EFORBIDDEN, "meeting.code_required")
	}
	if err := mr.checkLink(c, m, req.Link); err != nil {
		return err
	}
	return mr.startGuestSession(c, m, "", "", name, m.End.Add(time.Hour))
}

// startGuestSession issues the guest's session cookie, valid until the
// code's window (the meeting's end) closes.
func (mr *meetingRoutes) startGuestSession(c echo.Context, m *backend.Meeting, invitee, email, name string, expires time.Time) error {
	ctx := c.Request().Context()
	var (
		sid  backend.SessionID
		sess *backend.Session
		old  []string
	)
	err := mr.s.db.InTx(ctx, func(tx *sqlite.Tx) error {
		var err error
		if invitee != "" {
			if old, err = tx.DeleteGuestSessions(ctx, string(m.ID), invitee); err != nil {
				return err
			}
		}
		if !expires.After(tx.Now) {
			return backend.Errorf(backend.EFORBIDDEN, "meeting.over")
		}
		sess = &backend.Session{Kind: backend.SessionGuest, Email: email, Name: name, MeetingID: string(m.ID), InviteeID: invitee, Expires: expires}
		if sid, err = tx.CreateSession(ctx, sess); err != nil {
			return err
		}
		return nil // the code service audited session.replaced with the redeem
	})
	if err != nil {
		return err
	}
	if len(old) > 0 && mr.rooms != nil {
		pids := make([]sfu.ParticipantID, len(old))
		for i, h := range old {
			pids[i] = rooms.GuestParticipantID(h)
		}
		mr.rooms.Kick(m.ID, pids, "session_replaced")
	}
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		mr.s.db.DeleteSession(ctx, backend.SessionID(ck.Value))
	}
	mr.s.setSessionCookie(c, sid, sess.Expires)
	return c.JSON(http.StatusOK, map[string]string{"meeting_id": string(m.ID), "room_url": "/m/" + string(m.ID)})
}

// signal upgrades to the signaling WebSocket. The session decides who the
// participant is; a guest cookie only works for its own meeting. The
// origin must be our own (no cross-site WebSocket hijacking).
func (mr *meetingRoutes) signal(c echo.Context) error {
	ctx := c.Request().Context()
	m, err := mr.svc.Meeting(ctx, backend.MeetingID(c.Param("id")))
	if err != nil {
		return err
	}
	who, err := mr.rooms.Identity(m, SessionOf(c), c.QueryParam("tab"))
	if err != nil {
		return err
	}
	who.Lang = string(Lang(c))
	ws, err := websocket.Accept(c.Response(), c.Request(), &websocket.AcceptOptions{})
	if err != nil {
		// Accept has written the refusal (bad origin, not an upgrade).
		return nil
	}
	room := mr.rooms.Room(m)
	// The session outlives this request's context only as long as the
	// socket: Serve returns when either side goes away.
	if err := room.Serve(context.WithoutCancel(ctx), sfu.WebSocketConn(ws), who); err != nil {
		mr.s.log.Info("signaling ended", "meeting", m.ID, "participant", who.ID, "reason", err.Error())
	}
	ws.CloseNow()
	return nil
}

// roomState is the host's view of the live room (participants, lobby).
func (mr *meetingRoutes) roomState(c echo.Context) error {
	_, m, err := mr.managed(c)
	if err != nil {
		return err
	}
	room := mr.rooms.SFU.Lookup(sfu.RoomID(m.ID))
	if room == nil {
		return c.JSON(http.StatusOK, sfu.RoomState{ID: sfu.RoomID(m.ID), Options: rooms.OptionsFor(m), Participants: []sfu.ParticipantInfo{}, Lobby: []sfu.LobbyEntry{}})
	}
	return c.JSON(http.StatusOK, room.Snapshot())
}
