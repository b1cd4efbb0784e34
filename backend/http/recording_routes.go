package http

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/locales"
	"github.com/motesvakt/motesvakt/sfu"
)

// recordingRoutes serve playback, the incident button and the admin review
// queue. Who may do what:
//   - play, download, list a meeting's recordings: the meeting's host and admins;
//   - open an incident: the host, or a cohost in the live room;
//   - end an incident: the host, a cohost, or an admin;
//   - review queue, release legal hold, close review: admins.
type recordingRoutes struct {
	s     *Server
	rec   *recorder.Manager
	store *recording.Store
}

// WithRecordings adds recording playback, the incident endpoints and the
// review queue.
//
// Playback format (decided here): audio is Ogg/Opus, which Chromium and
// Firefox play natively, so the playback page feeds an <audio> element from
// the API with Range support. Video is IVF/VP8, which no browser plays; the
// page offers it as a download (VLC, ffplay) rather than remuxing it to
// WebM on the fly, which would need a muxer we do not carry and would break
// Range requests over the encrypted file.
func WithRecordings(rec *recorder.Manager, store *recording.Store) Option {
	return func(s *Server) {
		rr := &recordingRoutes{s: s, rec: rec, store: store}
		e := s.echo
		e.GET("/api/v1/recordings/:id", rr.play)
		e.GET("/api/v1/meetings/:id/recordings", rr.list)
		e.POST("/api/v1/meetings/:id/incident", rr.openIncident)
		e.DELETE("/api/v1/meetings/:id/incident", rr.endIncident)
		e.GET("/recordings/:id", rr.playbackPage)
		e.GET("/meetings/:id/incident", rr.incidentPage)
		e.POST("/meetings/:id/incident", rr.incidentForm)
		e.POST("/meetings/:id/incident/end", rr.endIncidentForm)
		e.GET("/admin/review", rr.reviewPage)
		e.POST("/admin/review/:id/close", rr.closeReviewForm)
		e.POST("/admin/recordings/:id/release", rr.releaseForm)
	}
}

// actor describes the signed-in user's rights in meeting m.
func (rr *recordingRoutes) actor(c echo.Context, sess *backend.Session, m *backend.Meeting) recorder.Actor {
	a := recorder.Actor{Audit: audit.Actor("user:" + string(sess.UserID)), Admin: sess.HasRole(backend.RoleAdmin), IP: c.RealIP()}
	if m != nil {
		a.Host = sess.UserID == m.HostUserID
		if !a.Host {
			// The participant id rooms.Manager.Identity gives a signed-in user.
			role, ok := rr.rec.ParticipantRole(m.ID, sfu.ParticipantID("u_"+string(sess.UserID)))
			a.Host = ok && role.IsHost()
		}
	}
	return a
}

// appError turns a recorder refusal into the application error the edge maps
// to a status, keeping the refusal's own message.
func appError(err error) error {
	var re *recorder.RefusalError
	if !errors.As(err, &re) {
		return err
	}
	return &backend.Error{Code: re.AppCode(), Key: re.Key, Err: err}
}

type recordingBody struct {
	ID          recording.ID    `json:"id"`
	MeetingID   string          `json:"meeting_id"`
	Kind        recording.Kind  `json:"kind"`
	Format      string          `json:"format"`
	State       recording.State `json:"state"`
	Created     time.Time       `json:"created"`
	Finished    time.Time       `json:"finished,omitzero"`
	Bytes       int64           `json:"bytes"`
	LegalHold   bool            `json:"legal_hold"`
	DeleteAfter time.Time       `json:"delete_after"`
	Participant string          `json:"participant,omitempty"`
	Source      string          `json:"source,omitempty"`
	URL         string          `json:"url"`
	Page        string          `json:"page"`
}

func (rr *recordingRoutes) body(c echo.Context, r *recording.Recording) recordingBody {
	b := recordingBody{ID: r.ID, MeetingID: string(r.MeetingID), Kind: r.Kind, State: r.State, Created: r.Created, Finished: r.Finished,
		Bytes: r.Bytes, LegalHold: r.LegalHold, DeleteAfter: r.DeleteAfter,
		URL: "/api/v1/recordings/" + string(r.ID), Page: "/recordings/" + string(r.ID)}
	b.Format = recorder.FormatOggOpus
	if r.Kind == recording.KindVideo {
		b.Format = recorder.FormatIVFVP8
	}
	if tr, err := rr.rec.TrackOf(c.Request().Context(), r.ID); err == nil {
		b.Participant, b.Source = string(tr.Participant), string(tr.Source)
	}
	return b
}

// authorizedRecording loads recording id for the caller, who must be its
// meeting's host or an admin.
func (rr *recordingRoutes) authorizedRecording(c echo.Context) (*recording.Recording, *backend.Meeting, recorder.Actor, error) {
	sess, err := requireUser(c)
	if err != nil {
		return nil, nil, recorder.Actor{}, err
	}
	ctx := c.Request().Context()
	r, err := rr.store.Get(ctx, recording.ID(c.Param("id")))
	if errors.Is(err, recording.ErrNotFound) {
		return nil, nil, recorder.Actor{}, backend.Errorf(backend.ENOTFOUND, "error.not_found")
	}
	if err != nil {
		return nil, nil, recorder.Actor{}, err
	}
	m, err := rr.s.db.Meeting(ctx, backend.MeetingID(r.MeetingID))
	if err != nil && backend.ErrorCode(err) != backend.ENOTFOUND {
		return nil, nil, recorder.Actor{}, err
	}
	by := rr.actor(c, sess, m)
	if !by.Admin && (m == nil || sess.UserID != m.HostUserID) {
		return nil, nil, recorder.Actor{}, backend.Errorf(backend.EFORBIDDEN, "incident.refused.forbidden")
	}
	return r, m, by, nil
}

func playbackError(err error) error {
	key := recording.PlaybackKey(err)
	switch {
	case errors.Is(err, recording.ErrProviderUnavailable), errors.Is(err, recording.ErrWrongKey):
		return &backend.Error{Code: backend.EUNAVAILABLE, Key: "recording.playback.unavailable", Err: err}
	case errors.Is(err, recording.ErrNotFound):
		return &backend.Error{Code: backend.ENOTFOUND, Key: key, Err: err}
	case errors.Is(err, recording.ErrFailed):
		return &backend.Error{Code: backend.ECONFLICT, Key: "recording.playback.failed", Err: err}
	}
	return &backend.Error{Code: backend.EINTERNAL, Key: key, Err: err}
}

// play streams a recording's plaintext, decrypting as it goes. Finished
// recordings support Range (seeking in the player); an interrupted one
// streams up to its last authentic chunk. Every request is audited before a
// byte is sent; if the audit entry cannot be written nothing is sent.
func (rr *recordingRoutes) play(c echo.Context) error {
	r, _, by, err := rr.authorizedRecording(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	name, ctype := string(r.ID)+".ogg", "audio/ogg"
	if r.Kind == recording.KindVideo {
		name, ctype = string(r.ID)+".ivf", "video/x-ivf"
	}
	how := "play"
	if c.QueryParam("download") != "" {
		how = "download"
		c.Response().Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	}
	if rg := c.Request().Header.Get("Range"); rg != "" {
		how += " range " + truncate(rg, 64)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", ctype)
	switch r.State {
	case recording.StateFinished:
		pb, err := rr.store.OpenAt(ctx, r.ID)
		if err != nil {
			h.Del("Content-Disposition")
			return playbackError(err)
		}
		defer pb.Close()
		if err := rr.rec.AuditAccess(ctx, r, by, how); err != nil {
			return err
		}
		http.ServeContent(c.Response(), c.Request(), name, r.Finished, pb)
		return nil
	case recording.StateInterrupted, recording.StateRecording:
		rc, err := rr.store.Open(ctx, r.ID)
		if err != nil {
			h.Del("Content-Disposition")
			return playbackError(err)
		}
		defer rc.Close()
		if err := rr.rec.AuditAccess(ctx, r, by, how+" partial"); err != nil {
			return err
		}
		h.Set("Accept-Ranges", "none")
		c.Response().WriteHeader(http.StatusOK)
		if _, err := io.Copy(c.Response(), rc); err != nil && !errors.Is(err, recording.ErrTruncated) {
			rr.s.log.Warn("recording stream ended early", "recording", r.ID, "err", err)
		}
		return nil
	}
	h.Del("Content-Disposition")
	return playbackError(fmt.Errorf("recording %s: %w", r.ID, recording.ErrFailed))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// list returns a meeting's recordings (host or admin).
func (rr *recordingRoutes) list(c echo.Context) error {
	sess, err := requireUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m, err := rr.s.db.Meeting(ctx, backend.MeetingID(c.Param("id")))
	if err != nil {
		return err
	}
	if !sess.HasRole(backend.RoleAdmin) && sess.UserID != m.HostUserID {
		return backend.Errorf(backend.EFORBIDDEN, "incident.refused.forbidden")
	}
	recs, err := rr.store.ListMeeting(ctx, recording.MeetingID(m.ID))
	if err != nil {
		return err
	}
	out := make([]recordingBody, 0, len(recs))
	for _, r := range recs {
		out = append(out, rr.body(c, r))
	}
	return c.JSON(http.StatusOK, map[string]any{"recordings": out, "recording": rr.rec.Recording(m.ID)})
}

// playbackPage shows one recording with an <audio> player (Ogg/Opus) or a
// download link (IVF/VP8).
func (rr *recordingRoutes) playbackPage(c echo.Context) error {
	r, m, _, err := rr.authorizedRecording(c)
	if err != nil {
		return err
	}
	pg := rr.s.page(c, locales.T(Lang(c), "playback.title"))
	title := ""
	if m != nil {
		title = m.Title
	}
	pg.Data = struct {
		Rec   recordingBody
		Title string
	}{rr.body(c, r), title}
	pg.Script = "recording.js"
	pg.Messages = map[string]string{
		"recording.playback.unavailable": pg.T("recording.playback.unavailable"),
		"recording.playback.failed":      pg.T("recording.playback.failed"),
		"recording.playback.truncated":   pg.T("recording.playback.truncated"),
	}
	return rr.s.render(c, "recording", pg)
}
