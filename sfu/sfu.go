package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Config is the SFU's network and tuning configuration. Zero values get the
// defaults written next to each field.
type Config struct {
	// UDPPort is the single UDP port all ICE traffic shares (ICE UDP mux).
	// 0 picks a free port (tests). Default deployments use 7882.
	UDPPort int
	// ListenIP binds the mux to one address; "" listens on every interface
	// that IPFilter keeps.
	ListenIP string
	// AddressRewrite lists public IPs to advertise instead of the local host
	// candidates when the server sits behind 1:1 NAT.
	AddressRewrite []string
	// ICETCPPort enables ICE-TCP on this port for clients whose UDP is
	// blocked; 0 = off.
	ICETCPPort int
	// IncludeLoopback advertises loopback candidates (tests, load tool) and
	// restricts ICE to loopback addresses.
	IncludeLoopback bool
	// IPFilter keeps only the local addresses it returns true for.
	IPFilter func(net.IP) bool
	// PLIThrottle is the minimum time between keyframe requests to one
	// publisher layer. Default 500ms (LiveKit's low-quality setting).
	PLIThrottle time.Duration
	// NACKBufferPackets bounds the per-subscriber retransmission ring.
	// Default 256 packets (pion's default is 1024, ×N subscribers).
	NACKBufferPackets uint16
	// AnswerTimeout closes a participant who does not answer an offer.
	// Default 15s.
	AnswerTimeout time.Duration
	// IdleTimeout closes a session that sends nothing (not even ping).
	// Default 40s; clients ping every 10s.
	IdleTimeout time.Duration
	// JoinTimeout is how long a new connection may take to send join.
	// Default 10s.
	JoinTimeout time.Duration
	// JoinRate and JoinBurst limit joins per room (token bucket).
	// Default 20/s, burst 50: a whole class can arrive at once, a script
	// hammering the room gets rate_limited.
	JoinRate  float64
	JoinBurst int
	// MaxParticipants per room, lobby included. Default 500.
	MaxParticipants int
	// SpeakerInterval is the active-speaker evaluation period. Default 300ms.
	SpeakerInterval time.Duration
}

func (c *Config) defaults() {
	if c.PLIThrottle == 0 {
		c.PLIThrottle = 500 * time.Millisecond
	}
	if c.NACKBufferPackets == 0 {
		c.NACKBufferPackets = 256
	}
	if c.AnswerTimeout == 0 {
		c.AnswerTimeout = 15 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 40 * time.Second
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = 10 * time.Second
	}
	if c.JoinRate == 0 {
		c.JoinRate = 20
	}
	if c.JoinBurst == 0 {
		c.JoinBurst = 50
	}
	if c.MaxParticipants == 0 {
		c.MaxParticipants = 500
	}
	if c.SpeakerInterval == 0 {
		c.SpeakerInterval = 300 * time.Millisecond
	}
}

// SFU owns the shared pion API, the UDP mux and the rooms.
type SFU struct {
	cfg   Config
	hooks Hooks
	log   *slog.Logger
	api   *webrtc.API

	udpMux  ice.UDPMux
	tcpMux  ice.TCPMux
	closers []func() error

	mu     sync.Mutex
	rooms  map[RoomID]*Room
	closed bool
}

// supportedCodecs is what we forward. VP8 is the one video codec every
// browser has and the one our keyframe detection and simulcast switching
// understand; anything else in an offer is refused with unsupported_codec.
var supportedCodecs = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96},
}

// New starts the SFU: binds the UDP (and optional TCP) mux and builds one
// shared pion API for every PeerConnection.
func New(cfg Config, hooks Hooks, log *slog.Logger) (*SFU, error) {
	cfg.defaults()
	if hooks == nil {
		hooks = NopHooks{}
	}
	if log == nil {
		log = slog.Default()
	}
	s := &SFU{cfg: cfg, hooks: hooks, log: log, rooms: map[RoomID]*Room{}}

	m := &webrtc.MediaEngine{}
	for _, c := range supportedCodecs {
		kind := webrtc.RTPCodecTypeVideo
		if c.MimeType == webrtc.MimeTypeOpus {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, kind); err != nil {
			return nil, fmt.Errorf("sfu: register codec: %w", err)
		}
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "ccm", Parameter: "fir"}, webrtc.RTPCodecTypeVideo)
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: audio level extension: %w", err)
	}
	ir := &interceptor.Registry{}
	// NACK with a bounded responder ring: every subscriber's down track keeps
	// its own copy, so the default 1024 packets × N subscribers adds up.
	if err := webrtc.ConfigureNackWithOptions(m, ir, nil, nack.ResponderSize(cfg.NACKBufferPackets)); err != nil {
		return nil, fmt.Errorf("sfu: nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("sfu: rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, fmt.Errorf("sfu: simulcast: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return nil, fmt.Errorf("sfu: twcc: %w", err)
	}

	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
	filter := cfg.IPFilter
	if cfg.IncludeLoopback {
		se.SetIncludeLoopbackCandidate(true)
		inner := filter
		filter = func(ip net.IP) bool { return ip.IsLoopback() && (inner == nil || inner(ip)) }
	}
	if filter != nil {
		se.SetIPFilter(filter)
	}
	if len(cfg.AddressRewrite) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.AddressRewrite, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("sfu: address rewrite: %w", err)
		}
	}
	if err := s.listen(&se, filter); err != nil {
		return nil, err
	}
	s.api = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return s, nil
}

func (s *SFU) listen(se *webrtc.SettingEngine, filter func(net.IP) bool) error {
	if s.cfg.ListenIP != "" {
		ip := net.ParseIP(s.cfg.ListenIP)
		if ip == nil {
			return fmt.Errorf("sfu: listen ip %q is not an IP", s.cfg.ListenIP)
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: s.cfg.UDPPort})
		if err != nil {
			return fmt.Errorf("sfu: udp mux: %w", err)
		}
		s.udpMux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: c})
	} else {
		opts := []ice.UDPMuxFromPortOption{}
		if filter != nil {
			opts = append(opts, ice.UDPMuxFromPortWithIPFilter(filter))
		}
		if s.cfg.IncludeLoopback {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		mux, err := ice.NewMultiUDPMuxFromPort(s.cfg.UDPPort, opts...)
		if err != nil {
			return fmt.Errorf("sfu: udp mux on port %d: %w", s.cfg.UDPPort, err)
		}
		s.udpMux = mux
	}
	s.closers = append(s.closers, s.udpMux.Close)
	se.SetICEUDPMux(s.udpMux)
	if s.cfg.ICETCPPort != 0 {
		host := s.cfg.ListenIP
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(s.cfg.ICETCPPort)))
		if err != nil {
			return errors.Join(fmt.Errorf("sfu: ice-tcp: %w", err), s.udpMux.Close())
		}
		s.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: l, ReadBufferSize: 32})
		s.closers = append(s.closers, s.tcpMux.Close)
		se.SetICETCPMux(s.tcpMux)
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	}
	return nil
}

// UDPAddr returns the local address of the media mux (tests, logs).
func (s *SFU) UDPAddr() net.Addr {
	if m, ok := s.udpMux.(*ice.UDPMuxDefault); ok {
		return m.LocalAddr()
	}
	if addrs := s.udpMux.GetListenAddresses(); len(addrs) > 0 {
		return addrs[0]
	}
	return nil
}

// Room returns the room with id, creating it with opts if it does not exist.
// An existing room keeps its options; use SetOptions to change them.
func (s *SFU) Room(id RoomID, opts RoomOptions) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rooms[id]; ok {
		return r
	}
	r := newRoom(s, id, opts)
	s.rooms[id] = r
	return r
}

// Lookup returns an existing room or nil.
func (s *SFU) Lookup(id RoomID) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

// CloseRoom ends every session in a room and forgets it (meeting over).
func (s *SFU) CloseRoom(id RoomID) {
	s.mu.Lock()
	r := s.rooms[id]
	delete(s.rooms, id)
	s.mu.Unlock()
	if r != nil {
		r.close("room_closed")
	}
}

// Close ends every room and releases the network ports.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := s.rooms
	s.rooms = map[RoomID]*Room{}
	s.mu.Unlock()
	for _, r := range rooms {
		r.close("server_shutdown")
	}
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}
