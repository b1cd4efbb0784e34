package sfutest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/sfu"
)

// LoopbackAPI returns a pion API restricted to loopback: loopback candidates
// on, every other address filtered out, no mDNS, no STUN.
func LoopbackAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// RemoteTrack is a track the client receives, with counters.
type RemoteTrack struct {
	ID, StreamID string
	Kind         webrtc.RTPCodecType
	Bytes        atomic.Int64
	Packets      atomic.Int64
	FirstAt      atomic.Int64 // unix nanos of the first packet
	// LastPayload is the most recent packet payload (copied).
	mu          sync.Mutex
	lastPayload []byte
	lastSeq     uint16
	seqGaps     int
}

// LastPayload returns a copy of the most recent payload.
func (t *RemoteTrack) LastPayload() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.lastPayload...)
}

// SeqGaps counts packets whose sequence number did not follow the previous one.
func (t *RemoteTrack) SeqGaps() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seqGaps
}

// Client is a pion participant speaking the signaling protocol over a Conn.
type Client struct {
	api  *webrtc.API
	conn sfu.Conn

	Msgs chan sfu.Message // every message except SDP traffic, buffered

	mu       sync.Mutex
	pub, sub *webrtc.PeerConnection
	answers  chan sfu.Message
	tracks   []*RemoteTrack
	senders  []*webrtc.RTPSender
	closed   chan struct{}
	// OnPacket, if set before traffic starts, sees every received packet.
	OnPacket func(t *RemoteTrack, p *rtp.Packet, at time.Time)

	PLIs atomic.Int64 // keyframe requests received as a publisher
}

// NewClient starts reading conn. Call Join next.
func NewClient(api *webrtc.API, conn sfu.Conn) *Client {
	c := &Client{api: api, conn: conn, Msgs: make(chan sfu.Message, 4096), answers: make(chan sfu.Message, 4), closed: make(chan struct{})}
	go c.readLoop()
	return c
}

// Send writes one message with the protocol version filled in.
func (c *Client) Send(m sfu.Message) error {
	m.V = sfu.ProtocolVersion
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.SendRaw(b)
}

// SendRaw writes raw bytes (for malformed-input tests).
func (c *Client) SendRaw(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, b)
}

// Join sends join.
func (c *Client) Join(lang string) error { return c.Send(sfu.Message{Type: sfu.TypeJoin, Lang: lang}) }

// Closed is closed when the signaling connection ended.
func (c *Client) Closed() <-chan struct{} { return c.closed }

func (c *Client) readLoop() {
	defer close(c.closed)
	defer close(c.Msgs)
	for {
		b, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		var m sfu.Message
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		switch {
		case m.Type == sfu.TypeOffer && m.PC == sfu.PCSubscribe:
			if err := c.answer(m.SDP); err != nil {
				m = sfu.Message{Type: "client_error", Text: err.Error()}
			} else {
				m = sfu.Message{Type: "client_answered"}
			}
		case m.Type == sfu.TypeAnswer && m.PC == sfu.PCPublish:
			c.answers <- m
			continue
		}
		select {
		case c.Msgs <- m:
		default: // a test that stopped listening must not stall signaling
		}
	}
}

func (c *Client) answer(offer string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sub == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return err
		}
		pc.OnTrack(c.onTrack)
		c.sub = pc
	}
	if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	ans, err := c.sub.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	g := webrtc.GatheringCompletePromise(c.sub)
	if err := c.sub.SetLocalDescription(ans); err != nil {
		return err
	}
	<-g
	return c.Send(sfu.Message{Type: sfu.TypeAnswer, PC: sfu.PCSubscribe, SDP: c.sub.LocalDescription().SDP})
}

func (c *Client) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	rt := &RemoteTrack{ID: t.ID(), StreamID: t.StreamID(), Kind: t.Kind()}
	c.mu.Lock()
	c.tracks = append(c.tracks, rt)
	c.mu.Unlock()
	go func() {
		for {
			if _, _, err := r.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		rt.FirstAt.CompareAndSwap(0, now.UnixNano())
		rt.Bytes.Add(int64(len(p.Payload)))
		n := rt.Packets.Add(1)
		rt.mu.Lock()
		if n > 1 && p.SequenceNumber != rt.lastSeq+1 {
			rt.seqGaps++
		}
		rt.lastSeq = p.SequenceNumber
		rt.lastPayload = append(rt.lastPayload[:0], p.Payload...)
		rt.mu.Unlock()
		if c.OnPacket != nil {
			c.OnPacket(rt, p, now)
		}
	}
}

// Tracks returns the remote tracks received so far.
func (c *Client) Tracks() []*RemoteTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*RemoteTrack(nil), c.tracks...)
}

// TrackSpec describes one track to publish.
type TrackSpec struct {
	ID     string
	Kind   webrtc.RTPCodecType
	Source sfu.Source
	RIDs   []string // simulcast encodings, low to high; empty for one layer
	Codec  string   // MIME type; default VP8 / Opus
}

// Published is one local track (per RID) the caller writes packets to.
type Published struct {
	Spec        TrackSpec
	Tracks      map[string]*webrtc.TrackLocalStaticRTP // by RID ("" without simulcast)
	Sender      *webrtc.RTPSender
	Transceiver *webrtc.RTPTransceiver
}

// ExtIDs returns the negotiated ids of the mid, rid and audio-level header
// extensions on this sender (0 if not negotiated).
func (p *Published) ExtIDs() (mid, rid, level uint8) {
	for _, e := range p.Sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			mid = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			rid = uint8(e.ID)
		case sdp.AudioLevelURI:
			level = uint8(e.ID)
		}
	}
	return
}

// Publish adds tracks to the publish PeerConnection and negotiates them.
func (c *Client) Publish(ctx context.Context, specs ...TrackSpec) ([]*Published, error) {
	c.mu.Lock()
	if c.pub == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.pub = pc
	}
	pc := c.pub
	c.mu.Unlock()
	declared := map[string]sfu.Source{}
	var out []*Published
	for _, s := range specs {
		mime := s.Codec
		if mime == "" {
			mime = webrtc.MimeTypeVP8
			if s.Kind == webrtc.RTPCodecTypeAudio {
				mime = webrtc.MimeTypeOpus
			}
		}
		capab := webrtc.RTPCodecCapability{MimeType: mime}
		rids := s.RIDs
		if len(rids) == 0 {
			rids = []string{""}
		}
		p := &Published{Spec: s, Tracks: map[string]*webrtc.TrackLocalStaticRTP{}}
		for i, rid := range rids {
			var opts []func(*webrtc.TrackLocalStaticRTP)
			if rid != "" {
				opts = append(opts, webrtc.WithRTPStreamID(rid))
			}
			t, err := webrtc.NewTrackLocalStaticRTP(capab, s.ID, "stream-"+s.ID, opts...)
			if err != nil {
				return nil, err
			}
			p.Tracks[rid] = t
			if i == 0 {
				sender, err := pc.AddTrack(t)
				if err != nil {
					return nil, err
				}
				p.Sender = sender
			} else if err := p.Sender.AddEncoding(t); err != nil {
				return nil, err
			}
		}
		for _, tr := range pc.GetTransceivers() {
			if tr.Sender() == p.Sender {
				p.Transceiver = tr
			}
		}
		if s.Codec != "" && p.Transceiver != nil {
			// Offer only the requested codec (unsupported-codec tests).
			var prefs []webrtc.RTPCodecParameters
			for _, c := range []webrtc.RTPCodecParameters{
				{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: s.Codec, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102},
			} {
				prefs = append(prefs, c)
			}
			if err := p.Transceiver.SetCodecPreferences(prefs); err != nil {
				return nil, fmt.Errorf("codec preferences: %w", err)
			}
		}
		go func(sender *webrtc.RTPSender) {
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, k := range pkts {
					switch k.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						c.PLIs.Add(1)
					}
				}
			}
		}(p.Sender)
		if s.Source != "" {
			declared[s.ID] = s.Source
		}
		out = append(out, p)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-g
	if err := c.Send(sfu.Message{Type: sfu.TypeOffer, PC: sfu.PCPublish, SDP: pc.LocalDescription().SDP, Tracks: declared}); err != nil {
		return nil, err
	}
	select {
	case a := <-c.answers:
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP}); err != nil {
			return nil, fmt.Errorf("set answer: %w", err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("publish: no answer: %w", ctx.Err())
	}
	return out, nil
}

// Close closes both PeerConnections and the signaling connection.
func (c *Client) Close() {
	c.mu.Lock()
	pub, sub := c.pub, c.sub
	c.mu.Unlock()
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
	_ = c.conn.Close("client closed")
}

// Expect waits for the next message of type typ that satisfies match (nil
// matches all), skipping others.
func (c *Client) Expect(ctx context.Context, typ string, match func(sfu.Message) bool) (sfu.Message, error) {
	for {
		select {
		case m, ok := <-c.Msgs:
			if !ok {
				return sfu.Message{}, fmt.Errorf("expect %s: connection closed", typ)
			}
			if m.Type == typ && (match == nil || match(m)) {
				return m, nil
			}
		case <-ctx.Done():
			return sfu.Message{}, fmt.Errorf("expect %s: %w", typ, ctx.Err())
		}
	}
}

// VP8Packet builds a minimal valid VP8 RTP payload: RFC 7741 descriptor with
// a 15-bit picture id, then a frame tag whose P bit marks key/delta frames,
// then body bytes (the caller's data, e.g. publisher id, seq, send time).
func VP8Payload(pictureID uint16, key bool, body []byte) []byte {
	b := make([]byte, 0, 5+len(body))
	b = append(b, 0x90, 0x80, byte(0x80|(pictureID>>8)&0x7f), byte(pictureID))
	tag := byte(0x01) // P=1: delta frame
	if key {
		tag = 0x00
	}
	b = append(b, tag)
	return append(b, body...)
}
