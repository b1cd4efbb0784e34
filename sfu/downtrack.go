package sfu

import (
	"errors"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// downTrack is one source as one subscriber receives it. It implements
// webrtc.TrackLocal and owns its sequence-number and timestamp offsets, so
// the subscriber sees one continuous stream across simulcast layer switches.
type downTrack struct {
	src    *source
	sub    *participant
	id     string
	stream string
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecCapability
	sender *webrtc.RTPSender

	mu         sync.Mutex
	bound      bool
	ssrc       uint32
	pt         uint8
	ws         webrtc.TrackLocalWriter
	audioExtID uint8 // subscriber-side id of the audio-level extension
	clockRate  uint32

	current, target int
	started         bool
	seqOffset       uint16
	tsOffset        uint32
	lastSeq         uint16
	lastTS          uint32
	lastAt          time.Time
	ext             [1]rtp.Extension
	hdr             rtp.Header // reused per packet: the writer is an interface, so a local would escape
	written         uint64
}

func newDownTrack(s *source, sub *participant) *downTrack {
	return &downTrack{
		src: s, sub: sub, id: string(s.info.ID), stream: s.info.StreamID,
		kind: webrtc.NewRTPCodecType(s.info.Kind), codec: s.codec,
		current: -1, target: 0, clockRate: s.codec.ClockRate,
	}
}

var errNoCodec = errors.New("sfu: subscriber supports none of the source's codecs")

// ID, RID, StreamID, Kind and Bind/Unbind implement webrtc.TrackLocal.
func (d *downTrack) ID() string                { return d.id }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.stream }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.kind }

func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var chosen *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if mimeEqual(c.MimeType, d.codec.MimeType) {
			chosen = &c
			break
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, errNoCodec
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bound = true
	d.ssrc = uint32(ctx.SSRC())
	d.pt = uint8(chosen.PayloadType)
	d.ws = ctx.WriteStream()
	d.audioExtID = 0
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == sdp.AudioLevelURI {
			d.audioExtID = uint8(e.ID)
		}
	}
	return *chosen, nil
}

func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bound = false
	d.ws = nil
	return nil
}

// setTarget chooses the layer this subscriber should get; the switch happens
// on that layer's next keyframe, which we ask for now.
func (d *downTrack) setTarget(l int) {
	d.mu.Lock()
	changed := d.target != l
	d.target = l
	d.mu.Unlock()
	if changed && d.kind == webrtc.RTPCodecTypeVideo {
		d.src.requestKeyframe(l)
	}
}

func (d *downTrack) requestKeyframe() {
	if d.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	d.mu.Lock()
	l := d.target
	d.mu.Unlock()
	d.src.requestKeyframe(l)
}

// Layer returns the layer currently forwarded (-1 before the first keyframe).
func (d *downTrack) Layer() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// writeRTP forwards one packet from layer to the subscriber. It allocates
// nothing: the header is copied into the down track's own slot and the
// payload is shared.
func (d *downTrack) writeRTP(pkt *rtp.Packet, layer int, keyframe bool) {
	d.mu.Lock()
	if !d.bound {
		d.mu.Unlock()
		return
	}
	now := time.Now()
	if d.kind == webrtc.RTPCodecTypeVideo && layer != d.current {
		// Switch only on a keyframe of the target layer; until then keep
		// sending the old layer so the picture never breaks.
		if layer != d.target || !keyframe {
			waiting := layer == d.target
			d.mu.Unlock()
			if waiting {
				// A subscriber bound after the last keyframe would
				// otherwise wait for the publisher's next one forever
				// (browsers send none unprompted); requestKeyframe throttles.
				d.src.requestKeyframe(layer)
			}
			return
		}
		if d.started {
			d.seqOffset = d.lastSeq + 1 - pkt.SequenceNumber
			gap := uint32(now.Sub(d.lastAt).Seconds() * float64(d.clockRate))
			d.tsOffset = d.lastTS + max(gap, 1) - pkt.Timestamp
		}
		d.current = layer
	}
	d.hdr = pkt.Header
	h := &d.hdr
	h.SSRC = d.ssrc
	h.PayloadType = d.pt
	h.SequenceNumber += d.seqOffset
	h.Timestamp += d.tsOffset
	h.Padding, h.PaddingSize = false, 0
	// Extension ids are negotiated per PeerConnection: drop the publisher's
	// and re-add only the audio level under the subscriber's id.
	h.Extension, h.Extensions, h.ExtensionProfile = false, nil, 0
	if d.audioExtID != 0 && d.src.audioExtID != 0 {
		if b := pkt.GetExtension(d.src.audioExtID); len(b) > 0 {
			h.Extensions = d.ext[:0] // reuse the down track's slot: no allocation
			_ = h.SetExtension(d.audioExtID, b)
		}
	}
	if !d.started || int16(h.SequenceNumber-d.lastSeq) > 0 {
		d.lastSeq, d.lastTS = h.SequenceNumber, h.Timestamp
	}
	d.started = true
	d.lastAt = now
	d.written++
	_, _ = d.ws.WriteRTP(h, pkt.Payload)
	d.mu.Unlock()
}

// readRTCP drains RTCP from the subscriber's sender (the NACK responder and
// reports interceptors only work if someone reads) and forwards keyframe
// requests to the publisher, throttled per layer.
func (d *downTrack) readRTCP() {
	for {
		pkts, _, err := d.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.mu.Lock()
				l := d.current
				if l < 0 {
					l = d.target
				}
				d.mu.Unlock()
				d.src.requestKeyframe(l)
			}
		}
	}
}
