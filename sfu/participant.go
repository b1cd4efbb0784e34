package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/locales"
)

const (
	sendQueue      = 256
	maxChatRunes   = 2000
	maxBadMessages = 5
	writeTimeout   = 10 * time.Second
)

// participant is one signaling session. Fields marked (room.mu) are guarded
// by the room's mutex; the PeerConnections by pcMu.
type participant struct {
	room *Room
	who  Identity
	conn Conn
	lang locales.Lang

	ctx    context.Context
	cancel context.CancelFunc
	out    chan []byte
	wdone  chan struct{}

	closeOnce  sync.Once
	closeCode  string
	closeMu    sync.Mutex
	joinedRoom bool

	admitted bool // (room.mu)
	role     Role // (room.mu)
	prevRole Role // (room.mu) role before promotion
	muted    bool // (room.mu)

	pcMu       sync.Mutex
	pub        *webrtc.PeerConnection
	sub        *webrtc.PeerConnection
	declared   map[string]Source
	downs      map[TrackID]*downTrack
	inFlight   bool
	pending    bool
	answerT    *time.Timer
	forbidSent map[string]bool
}

func (p *participant) infoLocked() ParticipantInfo {
	return ParticipantInfo{ID: p.who.ID, DisplayName: p.who.DisplayName, Role: p.role, Level: p.who.Level, Internal: p.who.Internal, Muted: p.muted}
}

func (p *participant) identityLocked() Identity {
	w := p.who
	w.Role = p.role
	return w
}

// identity is the identity with the current role, for hooks.
func (p *participant) identity() Identity {
	p.room.mu.Lock()
	defer p.room.mu.Unlock()
	return p.identityLocked()
}

func (p *participant) currentRole() Role {
	p.room.mu.Lock()
	defer p.room.mu.Unlock()
	return p.role
}

// Serve runs one participant's signaling session on conn until it ends: the
// client leaves, is removed or denied, times out, or ctx is cancelled. It
// always closes conn before returning. The returned error is nil for an
// orderly end.
func (r *Room) Serve(ctx context.Context, conn Conn, who Identity) error {
	if who.ID == "" || !who.Role.Valid() {
		_ = conn.Close("invalid identity")
		return fmt.Errorf("sfu: room %s: serve: invalid identity (id %q, role %q)", r.id, who.ID, who.Role)
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &participant{
		room: r, who: who, conn: conn, role: who.Role, lang: locales.Parse(who.Lang),
		ctx: pctx, cancel: cancel, out: make(chan []byte, sendQueue), wdone: make(chan struct{}),
		downs: map[TrackID]*downTrack{}, declared: map[string]Source{}, forbidSent: map[string]bool{},
	}
	go p.writer()
	err := p.run()
	p.closeWith(p.closeReason(err))
	<-p.wdone
	if p.joinedRoom {
		r.leave(p)
	}
	if errors.Is(err, errBye) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

var errBye = errors.New("bye")

func (p *participant) closeReason(err error) string {
	switch {
	case err == nil, errors.Is(err, errBye):
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return CodeIdleTimeout
	}
	return ""
}

func (p *participant) run() error {
	cfg := p.room.s.cfg
	jctx, cancel := context.WithTimeout(p.ctx, cfg.JoinTimeout)
	m, err := p.readMessage(jctx)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			p.sendError(CodeNotJoined, "")
			p.closeWith(CodeNotJoined)
		}
		return fmt.Errorf("sfu: room %s: await join: %w", p.room.id, err)
	}
	if m.Type != TypeJoin {
		p.sendError(CodeNotJoined, m.Type)
		p.closeWith(CodeNotJoined)
		return fmt.Errorf("sfu: room %s: first message %q, want join", p.room.id, m.Type)
	}
	if m.Lang != "" {
		p.lang = locales.Parse(m.Lang)
	}
	if code := p.room.join(p); code != "" {
		p.sendError(code, TypeJoin)
		p.closeWith(code)
		return fmt.Errorf("sfu: room %s: join refused: %s", p.room.id, code)
	}
	p.joinedRoom = true
	bad := 0
	for {
		rctx, cancel := context.WithTimeout(p.ctx, cfg.IdleTimeout)
		m, err := p.readMessage(rctx)
		cancel()
		if err != nil {
			var be *badMessageError
			if errors.As(err, &be) {
				if bad++; bad >= maxBadMessages {
					p.closeWith(CodeBadMessage)
					return fmt.Errorf("sfu: room %s: too many bad messages: %w", p.room.id, err)
				}
				continue
			}
			if errors.Is(err, context.DeadlineExceeded) && p.ctx.Err() == nil {
				p.sendError(CodeIdleTimeout, "")
				p.closeWith(CodeIdleTimeout)
			}
			return err
		}
		if err := p.handle(m); err != nil {
			return err
		}
	}
}

type badMessageError struct{ code string }

func (e *badMessageError) Error() string { return "bad message: " + e.code }

// readMessage reads and decodes one message, answering malformed input with
// an error on the socket. Oversized messages end the session.
func (p *participant) readMessage(ctx context.Context) (Message, error) {
	var m Message
	buf, err := p.conn.Read(ctx)
	if err != nil {
		return m, err
	}
	if len(buf) > MaxMessageSize {
		p.sendError(CodeTooLarge, "")
		p.closeWith(CodeTooLarge)
		return m, fmt.Errorf("sfu: message of %d bytes exceeds %d", len(buf), MaxMessageSize)
	}
	if err := json.Unmarshal(buf, &m); err != nil || m.Type == "" {
		p.sendError(CodeBadMessage, "")
		return m, &badMessageError{CodeBadMessage}
	}
	if m.V != ProtocolVersion {
		p.sendError(CodeUnsupportedVer, m.Type)
		return m, &badMessageError{CodeUnsupportedVer}
	}
	return m, nil
}

// handle dispatches one message from a joined participant. A returned error
// ends the session.
func (p *participant) handle(m Message) error {
	switch m.Type {
	case TypePing:
		p.send(Message{Type: TypePong, ID: m.ID})
		return nil
	case TypeBye:
		return errBye
	case TypeJoin:
		p.sendError(CodeBadMessage, m.Type)
		return nil
	}
	known := false
	for _, c := range Commands {
		known = known || c == m.Type
	}
	if !known {
		p.sendError(CodeUnknownType, m.Type)
		return nil
	}
	r := p.room
	r.mu.Lock()
	admitted, role, opts := p.admitted, p.role, r.opts
	r.mu.Unlock()
	if !admitted {
		p.sendError(CodeNotAdmitted, m.Type)
		return nil
	}
	if ok, code := CommandAllowed(opts, role, m.Type); !ok {
		p.sendError(code, m.Type)
		return nil
	}
	code := ""
	switch m.Type {
	case TypeOffer:
		code = p.handlePublishOffer(m)
	case TypeAnswer:
		code = p.handleAnswer(m)
	case TypeCandidate:
		code = p.handleCandidate(m)
	case TypeChat:
		text := strings.TrimSpace(m.Text)
		if text == "" || utf8.RuneCountInString(text) > maxChatRunes || !utf8.ValidString(text) {
			code = CodeBadMessage
		} else {
			r.chat(p, text)
		}
	case TypeUnmute:
		r.setMuted(p, false, p.who.ID)
	case TypeUnpublish:
		code = p.unpublishOwn(m.Track)
	case TypeAdmit:
		code = r.admit(p, m.Target)
	case TypeDeny:
		code = r.deny(p, m.Target)
	case TypeAdmitAllVerified:
		code = r.admitAllVerified(p)
	default:
		code = r.moderate(p, m)
	}
	if code != "" {
		p.sendError(code, m.Type)
		if code == CodeAnswerTimeout {
			return fmt.Errorf("sfu: room %s: participant %s: %s", r.id, p.who.ID, code)
		}
	}
	return nil
}

// ---- output ----

// send queues m for the writer. A participant whose queue is full is too
// slow to keep up and is closed rather than letting it stall the room.
func (p *participant) send(m Message) {
	m.V = ProtocolVersion
	buf, err := json.Marshal(m)
	if err != nil {
		p.room.s.log.Error("sfu: marshal", "type", m.Type, "err", err)
		return
	}
	select {
	case <-p.ctx.Done():
		return
	default:
	}
	select {
	case p.out <- buf:
	default:
		go p.closeWith(CodeSlowConsumer)
	}
}

func (p *participant) sendError(code, of string) {
	p.send(Message{Type: TypeError, Error: &ErrorBody{Code: code, Message: ErrorText(p.lang, code), Of: of}})
}

// ErrorText is the localized message for an error code.
func ErrorText(l locales.Lang, code string) string {
	return locales.For(l).T("room.error." + code)
}

func (p *participant) writer() {
	defer close(p.wdone)
	write := func(b []byte) bool {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		return p.conn.Write(ctx, b) == nil
	}
	for {
		select {
		case b := <-p.out:
			if !write(b) {
				p.cancel()
				_ = p.conn.Close("write failed")
				return
			}
		case <-p.ctx.Done():
			// Flush what was queued before the close (the error or bye
			// that explains it), then close the transport.
			for {
				select {
				case b := <-p.out:
					if !write(b) {
						_ = p.conn.Close("write failed")
						return
					}
				default:
					p.closeMu.Lock()
					reason := p.closeCode
					p.closeMu.Unlock()
					_ = p.conn.Close(reason)
					return
				}
			}
		}
	}
}

// closeWith ends the session: media first (a removed participant's media
// stops at once), then the socket after queued messages are flushed.
func (p *participant) closeWith(code string) {
	p.closeOnce.Do(func() {
		p.closeMu.Lock()
		p.closeCode = code
		p.closeMu.Unlock()
		p.pcMu.Lock()
		pub, sub := p.pub, p.sub
		if p.answerT != nil {
			p.answerT.Stop()
		}
		p.pcMu.Unlock()
		p.cancel()
		if pub != nil {
			_ = pub.Close()
		}
		if sub != nil {
			_ = sub.Close()
		}
	})
}

// ---- peer connections ----

// checkCodecs refuses an offer whose active media sections carry no codec we
// forward, before pion gets to it.
func checkCodecs(raw string) string {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return CodeBadSDP
	}
	for _, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		if kind != "audio" && kind != "video" || md.MediaName.Port.Value == 0 {
			continue
		}
		if _, inactive := md.Attribute("inactive"); inactive {
			continue
		}
		ok := false
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			v := strings.ToLower(a.Value)
			if strings.Contains(v, " opus/") || strings.Contains(v, " vp8/") {
				ok = true
			}
		}
		if !ok {
			return CodeUnsupportedCodec
		}
	}
	return ""
}

func (p *participant) newPC() (*webrtc.PeerConnection, error) {
	pc, err := p.room.s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("sfu: new peer connection: %w", err)
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			p.room.s.log.Info("sfu: peer connection failed", "room", p.room.id)
			go p.closeWith("")
		}
	})
	return pc, nil
}

func (p *participant) handlePublishOffer(m Message) string {
	if m.PC != PCPublish || m.SDP == "" {
		return CodeBadMessage
	}
	for _, s := range m.Tracks {
		switch s {
		case SourceMicrophone, SourceCamera, SourceScreen, SourceScreenAudio:
		default:
			return CodeBadMessage
		}
	}
	if code := checkCodecs(m.SDP); code != "" {
		return code
	}
	p.pcMu.Lock()
	defer p.pcMu.Unlock()
	if p.ctx.Err() != nil {
		return ""
	}
	for id, s := range m.Tracks {
		p.declared[id] = s
	}
	if p.pub == nil {
		pc, err := p.newPC()
		if err != nil {
			p.room.s.log.Error("sfu: publish pc", "err", err)
			return CodeInternal
		}
		pc.OnTrack(func(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) { p.onTrack(pc, t, recv) })
		p.pub = pc
	}
	if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return CodeBadSDP
	}
	answer, err := p.pub.CreateAnswer(nil)
	if err != nil {
		return CodeBadSDP
	}
	gathered := webrtc.GatheringCompletePromise(p.pub)
	if err := p.pub.SetLocalDescription(answer); err != nil {
		return CodeBadSDP
	}
	select {
	case <-gathered:
	case <-p.ctx.Done():
		return ""
	}
	p.send(Message{Type: TypeAnswer, PC: PCPublish, SDP: p.pub.LocalDescription().SDP})
	return ""
}

func (p *participant) handleAnswer(m Message) string {
	if m.PC != PCSubscribe || m.SDP == "" {
		return CodeBadMessage
	}
	p.pcMu.Lock()
	if !p.inFlight || p.sub == nil {
		p.pcMu.Unlock()
		return CodeBadMessage
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
		p.pcMu.Unlock()
		return CodeBadSDP
	}
	p.inFlight = false
	p.answerT.Stop()
	again := p.pending
	p.pending = false
	p.pcMu.Unlock()
	if again {
		p.negotiate()
	}
	return ""
}

func (p *participant) handleCandidate(m Message) string {
	if m.Candidate == nil {
		return CodeBadMessage
	}
	p.pcMu.Lock()
	defer p.pcMu.Unlock()
	pc := p.pub
	if m.PC == PCSubscribe {
		pc = p.sub
	}
	if pc == nil || pc.RemoteDescription() == nil {
		return CodeBadMessage
	}
	if err := pc.AddICECandidate(*m.Candidate); err != nil {
		return CodeBadMessage
	}
	return ""
}

// ensureSubLocked creates the subscribe PeerConnection on first use.
func (p *participant) ensureSubLocked() error {
	if p.sub != nil {
		return nil
	}
	pc, err := p.newPC()
	if err != nil {
		return err
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			// Keyframes sent before DTLS was up were lost: ask again.
			p.pcMu.Lock()
			downs := make([]*downTrack, 0, len(p.downs))
			for _, d := range p.downs {
				downs = append(downs, d)
			}
			p.pcMu.Unlock()
			for _, d := range downs {
				d.requestKeyframe()
			}
		case webrtc.PeerConnectionStateFailed:
			go p.closeWith("")
		}
	})
	p.sub = pc
	return nil
}

// negotiate sends the subscriber a new offer, or queues one if an offer is
// already in flight: one offer at a time per participant, no glare.
func (p *participant) negotiate() {
	p.pcMu.Lock()
	defer p.pcMu.Unlock()
	if p.ctx.Err() != nil || p.sub == nil {
		return
	}
	if p.inFlight {
		p.pending = true
		return
	}
	if len(p.sub.GetTransceivers()) == 0 {
		return
	}
	offer, err := p.sub.CreateOffer(nil)
	if err != nil {
		p.room.s.log.Error("sfu: create offer", "room", p.room.id, "err", err)
		return
	}
	gathered := webrtc.GatheringCompletePromise(p.sub)
	if err := p.sub.SetLocalDescription(offer); err != nil {
		p.room.s.log.Error("sfu: set local offer", "room", p.room.id, "err", err)
		return
	}
	select {
	case <-gathered:
	case <-p.ctx.Done():
		return
	}
	p.inFlight = true
	p.answerT = time.AfterFunc(p.room.s.cfg.AnswerTimeout, func() {
		p.sendError(CodeAnswerTimeout, TypeOffer)
		p.closeWith(CodeAnswerTimeout)
	})
	p.send(Message{Type: TypeOffer, PC: PCSubscribe, SDP: p.sub.LocalDescription().SDP})
}
