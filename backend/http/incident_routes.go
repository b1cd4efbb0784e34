package http

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/locales"
)

// incidentMeeting loads the meeting named in the path and the caller's
// rights in it.
func (rr *recordingRoutes) incidentMeeting(c echo.Context) (*backend.Meeting, recorder.Actor, error) {
	sess, err := requireUser(c)
	if err != nil {
		return nil, recorder.Actor{}, err
	}
	m, err := rr.s.db.Meeting(c.Request().Context(), backend.MeetingID(c.Param("id")))
	if err != nil {
		return nil, recorder.Actor{}, err
	}
	return m, rr.actor(c, sess, m), nil
}

type incidentBody struct {
	MeetingID        string         `json:"meeting_id"`
	Incident         bool           `json:"incident"`
	RecordingStopped bool           `json:"recording_stopped"`
	Finished         []recording.ID `json:"finished"`
	LegalHold        int            `json:"legal_hold"`
	ReturnedToLobby  int            `json:"returned_to_lobby"`
	Locked           bool           `json:"locked"`
	Message          string         `json:"message"`
}

// openIncident is the incident button: POST /api/v1/meetings/{id}/incident,
// host or cohost only.
func (rr *recordingRoutes) openIncident(c echo.Context) error {
	m, _, rep, err := rr.incident(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, incidentBody{
		MeetingID: string(m.ID), Incident: true, RecordingStopped: rep.RecordingStopped, Finished: nonNilIDs(rep.Finished),
		LegalHold: rep.Held, ReturnedToLobby: rep.Returned, Locked: true,
		Message: locales.T(Lang(c), "incident.opened", "Returned", rep.Returned),
	})
}

func nonNilIDs(ids []recording.ID) []recording.ID {
	if ids == nil {
		return []recording.ID{}
	}
	return ids
}

// endIncident: DELETE /api/v1/meetings/{id}/incident, host, cohost or admin.
func (rr *recordingRoutes) endIncident(c echo.Context) error {
	m, by, err := rr.incidentMeeting(c)
	if err != nil {
		return err
	}
	if !by.Host && !by.Admin {
		return backend.Errorf(backend.EFORBIDDEN, "incident.refused.forbidden")
	}
	if err := rr.rec.EndIncident(c.Request().Context(), m.ID, by); err != nil {
		return appError(err)
	}
	return c.JSON(http.StatusOK, incidentBody{MeetingID: string(m.ID), Incident: false, Locked: true, Finished: []recording.ID{},
		Message: locales.T(Lang(c), "incident.ended")})
}

// incidentPage is the host's incident control outside the room page: the
// button, and ending an incident. The room page calls the API instead.
func (rr *recordingRoutes) incidentPage(c echo.Context) error {
	m, by, err := rr.incidentMeeting(c)
	if err != nil {
		return err
	}
	if !by.Host && !by.Admin {
		return backend.Errorf(backend.EFORBIDDEN, "incident.refused.forbidden")
	}
	return rr.renderIncident(c, m, by, "")
}

func (rr *recordingRoutes) renderIncident(c echo.Context, m *backend.Meeting, by recorder.Actor, notice string) error {
	pg := rr.s.page(c, locales.T(Lang(c), "incident.button"))
	recs, err := rr.store.ListMeeting(c.Request().Context(), recording.MeetingID(m.ID))
	if err != nil {
		return err
	}
	var bodies []recordingBody
	for _, r := range recs {
		bodies = append(bodies, rr.body(c, r))
	}
	pg.Data = struct {
		Meeting    *backend.Meeting
		CanOpen    bool
		Notice     string
		Recordings []recordingBody
		Recording  bool
	}{m, by.Host, notice, bodies, rr.rec.Recording(m.ID)}
	return rr.s.render(c, "incident", pg)
}

func (rr *recordingRoutes) incidentForm(c echo.Context) error {
	m, by, rep, err := rr.incident(c)
	if err != nil {
		return err
	}
	m.Incident, m.Locked = true, true
	return rr.renderIncident(c, m, by, locales.T(Lang(c), "incident.opened", "Returned", rep.Returned))
}

// incident opens an incident on the request's meeting for its host (the
// API button and the form share it).
func (rr *recordingRoutes) incident(c echo.Context) (*backend.Meeting, recorder.Actor, *recorder.IncidentReport, error) {
	m, by, err := rr.incidentMeeting(c)
	if err != nil {
		return nil, by, nil, err
	}
	if !by.Host {
		return nil, by, nil, backend.Errorf(backend.EFORBIDDEN, "incident.refused.forbidden")
	}
	rep, err := rr.rec.Incident(c.Request().Context(), m.ID, by)
	if err != nil {
		return nil, by, nil, appError(err)
	}
	return m, by, rep, nil
}

func (rr *recordingRoutes) endIncidentForm(c echo.Context) error {
	m, by, err := rr.incidentMeeting(c)
	if err != nil {
		return err
	}
	if !by.Host && !by.Admin {
		return backend.Errorf(backend.EFORBIDDEN, "incident.refused.forbidden")
	}
	if err := rr.rec.EndIncident(c.Request().Context(), m.ID, by); err != nil {
		return appError(err)
	}
	m.Incident = false
	return rr.renderIncident(c, m, by, locales.T(Lang(c), "incident.ended"))
}

// reviewRow is one review item prepared for the template.
type reviewRow struct {
	recorder.ReviewItem
	Bodies []recordingBody
}

// reviewPage is the admin review queue: meetings flagged by incidents, with
// their recordings and the incident's audit trail.
func (rr *recordingRoutes) reviewPage(c echo.Context) error {
	if _, err := rr.s.requireAdmin(c); err != nil {
		return err
	}
	items, err := rr.rec.ReviewQueue(c.Request().Context())
	if err != nil {
		return err
	}
	rows := make([]reviewRow, 0, len(items))
	for _, it := range items {
		row := reviewRow{ReviewItem: it}
		for _, r := range it.Recordings {
			row.Bodies = append(row.Bodies, rr.body(c, r))
		}
		rows = append(rows, row)
	}
	pg := rr.s.page(c, locales.T(Lang(c), "review.title"))
	notice := ""
	switch c.QueryParam("done") {
	case "closed":
		notice = pg.T("review.closed")
	case "released":
		notice = pg.T("review.released")
	}
	pg.Data = struct {
		Items  []reviewRow
		Notice string
	}{rows, notice}
	return rr.s.render(c, "review", pg)
}

func (rr *recordingRoutes) adminActor(c echo.Context) (recorder.Actor, error) {
	sess, err := rr.s.requireAdmin(c)
	if err != nil {
		return recorder.Actor{}, err
	}
	return rr.actor(c, sess, nil), nil
}

func (rr *recordingRoutes) closeReviewForm(c echo.Context) error {
	by, err := rr.adminActor(c)
	if err != nil {
		return err
	}
	if err := rr.rec.CloseReview(c.Request().Context(), backend.MeetingID(c.Param("id")), by); err != nil {
		return appError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/review?done=closed")
}

func (rr *recordingRoutes) releaseForm(c echo.Context) error {
	by, err := rr.adminActor(c)
	if err != nil {
		return err
	}
	if err := rr.rec.ReleaseHold(c.Request().Context(), recording.ID(c.Param("id")), by); err != nil {
		if backend.ErrorCode(err) == backend.EINTERNAL && recording.RefusalKey(err) == "" {
			if _, gerr := rr.store.Get(c.Request().Context(), recording.ID(c.Param("id"))); gerr != nil {
				return backend.Errorf(backend.ENOTFOUND, "error.not_found")
			}
		}
		return appError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/review?done=released")
}
