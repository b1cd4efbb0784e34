package sfu

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// source is one published track: a microphone, camera or screen, with one
// layer per simulcast encoding (or a single layer).
type source struct {
	room  *Room
	owner *participant
	info  TrackInfo // immutable after publish except Layers (mu)
	key   string    // owner's MediaStreamTrack id
	pc    *webrtc.PeerConnection
	codec webrtc.RTPCodecCapability

	mu     sync.Mutex
	layers []*layer

	downs       atomic.Pointer[[]*downTrack] // copy-on-write for the lock-free fan-out
	muted       atomic.Bool
	audioExtID  uint8
	loud, total atomic.Int64
	score       float64 // speaker loop only
	published   atomic.Bool
}

type layer struct {
	rid     string
	ssrc    atomic.Uint32
	lastPLI atomic.Int64
	dead    bool
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *source) infoSnapshot() TrackInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.info
	i.Layers = nil
	for _, l := range s.layers {
		if !l.dead {
			i.Layers = append(i.Layers, l.rid)
		}
	}
	i.Muted = s.muted.Load()
	return i
}

func (s *source) numLayers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.layers)
}

// requestKeyframe sends a PLI for one layer to the publisher, at most once
// per PLIThrottle: many subscribers joining at once cost the publisher one
// keyframe, not one each.
func (s *source) requestKeyframe(idx int) {
	s.mu.Lock()
	if idx < 0 || idx >= len(s.layers) {
		s.mu.Unlock()
		return
	}
	l := s.layers[idx]
	s.mu.Unlock()
	now := time.Now().UnixNano()
	last := l.lastPLI.Load()
	if now-last < int64(s.room.s.cfg.PLIThrottle) || !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	ssrc := l.ssrc.Load()
	if ssrc == 0 {
		return
	}
	_ = s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

func (s *source) addDown(d *downTrack) {
	for {
		old := s.downs.Load()
		var next []*downTrack
		if old != nil {
			next = slices.Clone(*old)
		}
		next = append(next, d)
		if s.downs.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (s *source) removeDown(d *downTrack) {
	for {
		old := s.downs.Load()
		if old == nil {
			return
		}
		next := slices.DeleteFunc(slices.Clone(*old), func(x *downTrack) bool { return x == d })
		if s.downs.CompareAndSwap(old, &next) {
			return
		}
	}
}

// onTrack runs for every incoming track (and every simulcast layer of it)
// on the participant's publish PeerConnection.
func (p *participant) onTrack(pc *webrtc.PeerConnection, t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	r := p.room
	p.pcMu.Lock()
	src, declared := p.declared[t.ID()]
	p.pcMu.Unlock()
	if !declared {
		src = SourceCamera
		if t.Kind() == webrtc.RTPCodecTypeAudio {
			src = SourceMicrophone
		}
	}
	if (t.Kind() == webrtc.RTPCodecTypeAudio) != (src == SourceMicrophone || src == SourceScreenAudio) {
		src = SourceCamera
		if t.Kind() == webrtc.RTPCodecTypeAudio {
			src = SourceMicrophone
		}
	}
	r.mu.Lock()
	allowed := CanPublish(r.opts, p.who, p.role, src)
	r.mu.Unlock()
	if !allowed {
		// Refused tracks are never read, forwarded or recorded; the client
		// learns why once per track.
		p.pcMu.Lock()
		first := !p.forbidSent[t.ID()]
		p.forbidSent[t.ID()] = true
		p.pcMu.Unlock()
		if first {
			p.send(Message{Type: TypeError, Track: TrackID(t.ID()), Error: &ErrorBody{Code: CodeTrackForbidden, Message: ErrorText(p.lang, CodeTrackForbidden), Of: string(src)}})
		}
		_ = recv.Stop()
		return
	}

	// Layer index follows the order of the encodings in the offer (low to
	// high by convention, see PROTOCOL.md).
	idx := 0
	for i, rt := range recv.Tracks() {
		if rt.RID() == t.RID() {
			idx = i
		}
	}
	nLayers := max(1, len(recv.Tracks()))
	key := string(p.who.ID) + "/" + t.ID()

	r.mu.Lock()
	var s *source
	for _, x := range r.sources {
		if x.key == key && x.owner == p {
			s = x
		}
	}
	fresh := s == nil
	if fresh {
		s = &source{
			room: r, owner: p, key: key, pc: pc, codec: t.Codec().RTPCodecCapability,
			info: TrackInfo{
				ID: TrackID(newID()), Participant: p.who.ID, Source: src, Kind: t.Kind().String(),
				StreamID: string(p.who.ID),
			},
		}
		s.layers = make([]*layer, nLayers)
		for i := range s.layers {
			s.layers[i] = &layer{}
		}
		for _, e := range recv.GetParameters().HeaderExtensions {
			if e.URI == sdp.AudioLevelURI {
				s.audioExtID = uint8(e.ID)
			}
		}
		if src == SourceMicrophone && p.muted {
			s.muted.Store(true)
		}
		r.sources[s.info.ID] = s
	}
	s.mu.Lock()
	if idx < len(s.layers) {
		s.layers[idx].rid = t.RID()
		s.layers[idx].ssrc.Store(uint32(t.SSRC()))
	}
	s.mu.Unlock()
	var subs []*participant
	if fresh {
		for _, o := range r.parts {
			if o != p {
				subs = append(subs, o)
			}
		}
		s.published.Store(true)
	}
	r.mu.Unlock()

	if fresh {
		high := r.wantHigh(s)
		for _, o := range subs {
			o.subscribe(s, high)
			o.negotiate()
		}
		r.broadcast(Message{Type: TypeTrackPublished, TrackInfo: ptr(s.infoSnapshot())}, false)
	} else {
		r.updateLayers()
	}
	go s.readLoop(t, idx)
}

// readLoop reads one layer and fans each packet out to the down tracks. It
// must never block on a subscriber: down-track writes only queue into pion.
func (s *source) readLoop(t *webrtc.TrackRemote, idx int) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			break
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		if s.audioExtID != 0 {
			if b := pkt.GetExtension(s.audioExtID); len(b) > 0 {
				s.total.Add(1)
				// RFC 6464: level is -dBov, 0 loudest, 127 silence.
				if b[0]&0x7f < speakingLevel {
					s.loud.Add(1)
				}
			}
		}
		if s.muted.Load() {
			continue
		}
		key := video && isVP8Keyframe(pkt.Payload)
		if sink := s.room.sinkIfRecording(); sink != nil {
			sink.WriteRTP(s.info, idx, &pkt)
		}
		if downs := s.downs.Load(); downs != nil {
			for _, d := range *downs {
				d.writeRTP(&pkt, idx, key)
			}
		}
	}
	s.mu.Lock()
	if idx < len(s.layers) {
		s.layers[idx].dead = true
	}
	alive := false
	for _, l := range s.layers {
		alive = alive || !l.dead && l.ssrc.Load() != 0
	}
	s.mu.Unlock()
	if !alive {
		s.room.unpublish(s)
	}
}

func (r *Room) sinkIfRecording() TrackSink {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recording {
		return r.sink
	}
	return nil
}

// unpublish removes a source from the room and from every subscriber.
func (r *Room) unpublish(s *source) {
	r.mu.Lock()
	if r.sources[s.info.ID] != s {
		r.mu.Unlock()
		return
	}
	delete(r.sources, s.info.ID)
	info := s.info
	r.broadcastLocked(Message{Type: TypeTrackUnpublished, TrackInfo: &info, Track: info.ID}, false)
	r.mu.Unlock()
	var downs []*downTrack
	if d := s.downs.Swap(nil); d != nil {
		downs = *d
	}
	for _, d := range downs {
		d.sub.unsubscribe(d)
	}
}

func (p *participant) unpublishOwn(id TrackID) string {
	r := p.room
	r.mu.Lock()
	s := r.sources[id]
	r.mu.Unlock()
	if s == nil || s.owner != p {
		return CodeNotFound
	}
	r.unpublish(s)
	return ""
}

// subscribe adds a down track for s to p's subscribe PeerConnection. The
// caller negotiates afterwards.
func (p *participant) subscribe(s *source, high bool) {
	p.pcMu.Lock()
	defer p.pcMu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	if _, ok := p.downs[s.info.ID]; ok {
		return
	}
	if err := p.ensureSubLocked(); err != nil {
		p.room.s.log.Error("sfu: subscribe pc", "err", err)
		return
	}
	d := newDownTrack(s, p)
	d.setTarget(s.pickLayer(high))
	sender, err := p.sub.AddTrack(d)
	if err != nil {
		p.room.s.log.Error("sfu: add down track", "room", p.room.id, "err", err)
		return
	}
	d.sender = sender
	p.downs[s.info.ID] = d
	s.addDown(d)
	go d.readRTCP()
}

func (p *participant) unsubscribe(d *downTrack) {
	p.pcMu.Lock()
	if p.downs[d.src.info.ID] != d {
		p.pcMu.Unlock()
		return
	}
	delete(p.downs, d.src.info.ID)
	closed := p.ctx.Err() != nil
	if !closed && d.sender != nil {
		_ = p.sub.RemoveTrack(d.sender)
	}
	p.pcMu.Unlock()
	if !closed {
		p.negotiate()
	}
}

// pickLayer is the subscriber's layer: the top one for the active speaker
// and screen shares, the bottom one for everyone else.
func (s *source) pickLayer(high bool) int {
	if s.info.Kind != "video" {
		return 0
	}
	if high {
		return s.numLayers() - 1
	}
	return 0
}

func (r *Room) wantHigh(s *source) bool {
	if s.info.Source == SourceScreen {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.speaker == s.owner.who.ID
}

// updateLayers re-targets every video down track after a speaker change or
// a new simulcast layer. Switching happens on the next keyframe.
func (r *Room) updateLayers() {
	r.mu.Lock()
	var srcs []*source
	for _, s := range r.sources {
		if s.info.Kind == "video" {
			srcs = append(srcs, s)
		}
	}
	speaker := r.speaker
	r.mu.Unlock()
	for _, s := range srcs {
		high := s.info.Source == SourceScreen || s.owner.who.ID == speaker
		l := s.pickLayer(high)
		if downs := s.downs.Load(); downs != nil {
			for _, d := range *downs {
				d.setTarget(l)
			}
		}
	}
}

// ---- active speaker ----

const (
	speakingLevel = 50  // louder than -50 dBov counts as speech
	speakerMin    = 0.3 // smoothed share of loud packets to become speaker
	speakerMargin = 0.2 // a challenger must beat the speaker by this much
	speakerDecay  = 0.5 // EMA weight of the newest interval
)

func (r *Room) speakerLoop() {
	t := time.NewTicker(r.s.cfg.SpeakerInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			r.evaluateSpeaker()
		}
	}
}

// evaluateSpeaker picks the loudest microphone with hysteresis: the speaker
// keeps the floor until someone is clearly louder or they fall silent, so
// layers do not flap between two people talking over each other.
func (r *Room) evaluateSpeaker() {
	r.mu.Lock()
	var best *source
	var cur *source
	for _, s := range r.sources {
		if s.info.Source != SourceMicrophone {
			continue
		}
		loud, total := s.loud.Swap(0), s.total.Swap(0)
		ratio := 0.0
		if total > 0 {
			ratio = float64(loud) / float64(total)
		}
		if s.muted.Load() {
			ratio = 0
		}
		s.score = speakerDecay*ratio + (1-speakerDecay)*s.score
		if best == nil || s.score > best.score || s.score == best.score && s.info.ID < best.info.ID {
			best = s
		}
		if s.owner.who.ID == r.speaker {
			cur = s
		}
	}
	next := r.speaker
	switch {
	case best == nil:
	case cur == nil:
		if best.score >= speakerMin {
			next = best.owner.who.ID
		}
	case best != cur && best.score >= speakerMin && best.score > cur.score+speakerMargin:
		next = best.owner.who.ID
	case best != cur && cur.score < speakerMin/3 && best.score >= speakerMin:
		next = best.owner.who.ID
	}
	changed := next != r.speaker
	r.speaker = next
	if changed {
		r.broadcastLocked(Message{Type: TypeSpeakerChanged, Speaker: next}, false)
	}
	r.mu.Unlock()
	if changed {
		r.updateLayers()
	}
}

// isVP8Keyframe parses the RFC 7741 payload descriptor and reports whether
// the packet starts a VP8 key frame.
func isVP8Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	x, s, pid := b[0]&0x80 != 0, b[0]&0x10 != 0, b[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(b) < 2 {
			return false
		}
		ext := b[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(b) <= i {
				return false
			}
			if b[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K
			i++
		}
	}
	if len(b) <= i {
		return false
	}
	return b[i]&0x01 == 0
}

// mimeEqual compares MIME types case-insensitively.
func mimeEqual(a, b string) bool { return strings.EqualFold(a, b) }
