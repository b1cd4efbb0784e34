// Command sfu-load measures the embedded SFU on this machine: N synthetic
// publishers (VP8 + Opus RTP whose payload carries publisher id, sequence
// number and send time) and M subscribers over loopback against an
// in-process SFU, then the same traffic through a plain UDP relay as the
// baseline, both in the same run. It prints one JSON line.
//
//	go run ./scripts/sfu-load --publishers 1 --subscribers 50 --duration 10s
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

const (
	fps            = 30
	videoPackets   = 3    // per frame
	videoSize      = 1000 // payload bytes per video packet
	audioSize      = 80
	audioInterval  = 20 * time.Millisecond
	keyframeEvery  = 2 * time.Second
	bodyHeaderSize = 1 + 2 + 4 + 8 // kind, publisher, seq, send time
)

type result struct {
	Publishers             int     `json:"publishers"`
	Subscribers            int     `json:"subscribers"`
	DurationS              float64 `json:"duration_s"`
	Simulcast              bool    `json:"simulcast"`
	ForwardedPPS           float64 `json:"forwarded_pps"`
	CPUUsPerPacket         float64 `json:"cpu_us_per_packet"`
	LossPct                float64 `json:"loss_pct"`
	LatencyP50Ms           float64 `json:"latency_p50_ms"`
	LatencyP99Ms           float64 `json:"latency_p99_ms"`
	FirstFrameMs           float64 `json:"first_frame_ms"`
	BaselineForwardedPPS   float64 `json:"baseline_forwarded_pps"`
	BaselineCPUUsPerPacket float64 `json:"baseline_cpu_us_per_packet"`
	BaselineLatencyP50Ms   float64 `json:"baseline_latency_p50_ms"`
	BaselineLossPct        float64 `json:"baseline_loss_pct"`
	RatioCPUVsBaseline     float64 `json:"ratio_cpu_vs_baseline"`
	AudioPPS               float64 `json:"audio_pps"`
}

var profile *os.File

func main() {
	pubs := flag.Int("publishers", 1, "synthetic publishers (VP8 + Opus each)")
	subs := flag.Int("subscribers", 10, "subscribers; each receives every publisher")
	dur := flag.Duration("duration", 10*time.Second, "measurement window per phase (after warm-up)")
	simulcast := flag.Bool("simulcast", false, "publish two VP8 layers (q, f); subscribers get the low one unless speaking")
	warm := flag.Duration("warmup", 3*time.Second, "time for joins and negotiation before measuring")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the SFU phase to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sfu-load:", err)
			os.Exit(1)
		}
		profile = f
	}

	res := result{Publishers: *pubs, Subscribers: *subs, DurationS: dur.Seconds(), Simulcast: *simulcast}
	if err := runSFU(&res, *pubs, *subs, *dur, *warm, *simulcast); err != nil {
		fmt.Fprintln(os.Stderr, "sfu-load:", err)
		os.Exit(1)
	}
	if err := runRelay(&res, *pubs, *subs, *dur, *simulcast); err != nil {
		fmt.Fprintln(os.Stderr, "sfu-load: relay:", err)
		os.Exit(1)
	}
	if res.BaselineCPUUsPerPacket > 0 {
		res.RatioCPUVsBaseline = round(res.CPUUsPerPacket / res.BaselineCPUUsPerPacket)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// ---- measurement helpers ----

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stats collects what subscribers receive.
type stats struct {
	measuring atomic.Bool
	received  atomic.Int64
	audio     atomic.Int64
	mu        sync.Mutex
	lat       []time.Duration
	// per (subscriber, publisher, kind) stream: first and last seq seen in
	// the window and how many arrived, for loss.
	streams map[string]*streamStat
}

type streamStat struct{ first, last, n int64 }

func newStats() *stats { return &stats{streams: map[string]*streamStat{}} }

func (s *stats) record(sub int, body []byte, at time.Time) {
	if len(body) < bodyHeaderSize || !s.measuring.Load() {
		return
	}
	kind, pub := body[0], binary.BigEndian.Uint16(body[1:])
	seq := int64(binary.BigEndian.Uint32(body[3:]))
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(body[7:])))
	s.received.Add(1)
	if kind == 'a' {
		s.audio.Add(1)
	}
	key := fmt.Sprintf("%d/%d/%c", sub, pub, kind)
	s.mu.Lock()
	s.lat = append(s.lat, at.Sub(sent))
	st := s.streams[key]
	if st == nil {
		st = &streamStat{first: seq, last: seq}
		s.streams[key] = st
	}
	st.first, st.last = min(st.first, seq), max(st.last, seq)
	st.n++
	s.mu.Unlock()
}

func (s *stats) summary() (lossPct, p50, p99 float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var expected, got int64
	for _, st := range s.streams {
		expected += st.last - st.first + 1
		got += st.n
	}
	if expected > 0 {
		lossPct = 100 * float64(max(0, expected-got)) / float64(expected)
	}
	slices.Sort(s.lat)
	pct := func(p float64) float64 {
		if len(s.lat) == 0 {
			return 0
		}
		return float64(s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))].Microseconds()) / 1000
	}
	return round(lossPct), pct(0.50), pct(0.99)
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// body builds the payload body every synthetic packet carries.
func body(kind byte, pub int, seq uint32, size int) []byte {
	b := make([]byte, size)
	b[0] = kind
	binary.BigEndian.PutUint16(b[1:], uint16(pub))
	binary.BigEndian.PutUint32(b[3:], seq)
	binary.BigEndian.PutUint64(b[7:], uint64(time.Now().UnixNano()))
	return b
}

// ---- SFU phase ----

func runSFU(res *result, nPub, nSub int, dur, warm time.Duration, simulcast bool) error {
	s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, JoinRate: 1000, JoinBurst: 1000},
		sfu.NopHooks{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer s.Close()
	api, err := sfutest.LoopbackAPI()
	if err != nil {
		return err
	}
	room := s.Room("load", sfu.RoomOptions{Lobby: sfu.LobbyNone})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	join := func(id string, role sfu.Role) (*sfutest.Client, error) {
		srv, cli := sfutest.Pipe()
		c := sfutest.NewClient(api, cli)
		go func() {
			_ = room.Serve(ctx, srv, sfu.Identity{ID: sfu.ParticipantID(id), DisplayName: id, Role: role, Level: sfu.LevelInternalSSO, Internal: true})
		}()
		if err := c.Join("en"); err != nil {
			return nil, err
		}
		jctx, jcancel := context.WithTimeout(ctx, 10*time.Second)
		defer jcancel()
		if _, err := c.Expect(jctx, sfu.TypeWelcome, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		go func() { // keep draining so the client's buffer never fills
			for range c.Msgs {
			}
		}()
		return c, nil
	}

	st := newStats()
	var firstFrame []time.Duration
	var ffMu sync.Mutex
	var clients []*sfutest.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range nSub {
		joinedAt := time.Now()
		var once sync.Once
		c, err := join(fmt.Sprintf("sub%03d", i), sfu.RoleParticipant)
		if err != nil {
			return err
		}
		c.OnPacket = func(t *sfutest.RemoteTrack, p *rtp.Packet, at time.Time) {
			b := p.Payload
			if t.Kind == webrtc.RTPCodecTypeVideo {
				if len(b) < 5 {
					return
				}
				once.Do(func() {
					ffMu.Lock()
					firstFrame = append(firstFrame, at.Sub(joinedAt))
					ffMu.Unlock()
				})
				b = b[5:]
			}
			st.record(i, b, at)
		}
		clients = append(clients, c)
	}
	for i := range nPub {
		c, err := join(fmt.Sprintf("pub%03d", i), sfu.RoleHost)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		spec := sfutest.TrackSpec{ID: fmt.Sprintf("v%d", i), Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera}
		if simulcast {
			spec.RIDs = []string{"q", "f"}
		}
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		published, err := c.Publish(pctx, spec, sfutest.TrackSpec{ID: fmt.Sprintf("a%d", i), Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
		pcancel()
		if err != nil {
			return fmt.Errorf("publisher %d: %w", i, err)
		}
		go sendVideo(ctx, i, c, published[0])
		go sendAudio(ctx, i, published[1])
	}
	time.Sleep(warm)
	st.measuring.Store(true)
	if profile != nil {
		_ = pprof.StartCPUProfile(profile)
	}
	c0, t0 := cpuTime(), time.Now()
	time.Sleep(dur)
	c1, t1 := cpuTime(), time.Now()
	if profile != nil {
		pprof.StopCPUProfile()
		_ = profile.Close()
	}
	st.measuring.Store(false)
	n := st.received.Load()
	res.ForwardedPPS = round(float64(n) / t1.Sub(t0).Seconds())
	res.AudioPPS = round(float64(st.audio.Load()) / t1.Sub(t0).Seconds())
	if n > 0 {
		res.CPUUsPerPacket = round(float64((c1 - c0).Microseconds()) / float64(n))
	}
	res.LossPct, res.LatencyP50Ms, res.LatencyP99Ms = st.summary()
	slices.Sort(firstFrame)
	if len(firstFrame) > 0 {
		res.FirstFrameMs = round(float64(firstFrame[len(firstFrame)/2].Microseconds()) / 1000)
	}
	return nil
}

func sendVideo(ctx context.Context, pub int, c *sfutest.Client, p *sfutest.Published) {
	mid, ridID, _ := p.ExtIDs()
	tick := time.NewTicker(time.Second / fps)
	defer tick.Stop()
	var rtpSeq = map[string]uint16{}
	var ts uint32
	lastKey := time.Time{}
	plis := c.PLIs.Load()
	for frame := 0; ; frame++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts += 90000 / fps
		key := time.Since(lastKey) > keyframeEvery
		if n := c.PLIs.Load(); n != plis {
			plis, key = n, true
		}
		if key {
			lastKey = time.Now()
		}
		for rid, tr := range p.Tracks {
			packets, size := videoPackets, videoSize
			if rid == "q" {
				packets, size = 1, 300
			}
			for k := range packets {
				// The body's sequence number counts per layer (RTP seq of
				// that layer), so a subscriber held at one layer sees no
				// false loss.
				rtpSeq[rid]++
				payload := sfutest.VP8Payload(uint16(frame), key && k == 0, body('v', pub, uint32(rtpSeq[rid]), size))
				if k > 0 {
					payload[0] &^= 0x10 // not the start of the partition
				}
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: rtpSeq[rid], Timestamp: ts, Marker: k == packets-1}, Payload: payload}
				if rid != "" && mid != 0 && ridID != 0 {
					_ = pkt.Header.SetExtension(mid, []byte(p.Transceiver.Mid()))
					_ = pkt.Header.SetExtension(ridID, []byte(rid))
				}
				_ = tr.WriteRTP(pkt)
			}
		}
	}
}

func sendAudio(ctx context.Context, pub int, p *sfutest.Published) {
	_, _, levelID := p.ExtIDs()
	tick := time.NewTicker(audioInterval)
	defer tick.Stop()
	var seq uint32
	var ts uint32
	tr := p.Tracks[""]
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seq++
		ts += 960
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(seq), Timestamp: ts}, Payload: body('a', pub, seq, audioSize)}
		if levelID != 0 {
			_ = pkt.Header.SetExtension(levelID, []byte{0x80 | 100}) // quiet: nobody becomes speaker
		}
		_ = tr.WriteRTP(pkt)
	}
}

// ---- baseline: plain UDP relay, same traffic shape ----

func runRelay(res *result, nPub, nSub int, dur time.Duration, simulcast bool) error {
	relay, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer relay.Close()
	st := newStats()
	var subAddrs []*net.UDPAddr
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range nSub {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		_ = c.SetReadBuffer(4 << 20)
		conns = append(conns, c)
		subAddrs = append(subAddrs, c.LocalAddr().(*net.UDPAddr))
		go func() {
			buf := make([]byte, 1500)
			var p rtp.Packet
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				at := time.Now()
				if p.Unmarshal(buf[:n]) == nil {
					st.record(i, p.Payload, at)
				}
			}
		}()
	}
	// The relay forwards every packet to every subscriber, like the SFU.
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := relay.Read(buf)
			if err != nil {
				return
			}
			for _, a := range subAddrs {
				_, _ = relay.WriteToUDP(buf[:n], a)
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range nPub {
		c, err := net.DialUDP("udp4", nil, relay.LocalAddr().(*net.UDPAddr))
		if err != nil {
			return err
		}
		conns = append(conns, c)
		go func() {
			vt := time.NewTicker(time.Second / fps)
			at := time.NewTicker(audioInterval)
			defer vt.Stop()
			defer at.Stop()
			var vseq, aseq uint32
			for {
				select {
				case <-ctx.Done():
					return
				case <-vt.C:
					packets, size := videoPackets, videoSize
					if simulcast { // the low layer is what non-speakers get
						packets, size = 1, 300
					}
					for range packets {
						vseq++
						pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(vseq)}, Payload: body('v', i, vseq, size)}
						b, _ := pkt.Marshal()
						_, _ = c.Write(b)
					}
				case <-at.C:
					aseq++
					pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(aseq)}, Payload: body('a', i, aseq, audioSize)}
					b, _ := pkt.Marshal()
					_, _ = c.Write(b)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	st.measuring.Store(true)
	c0, t0 := cpuTime(), time.Now()
	time.Sleep(dur)
	c1, t1 := cpuTime(), time.Now()
	st.measuring.Store(false)
	n := st.received.Load()
	res.BaselineForwardedPPS = round(float64(n) / t1.Sub(t0).Seconds())
	if n > 0 {
		res.BaselineCPUUsPerPacket = round(float64((c1 - c0).Microseconds()) / float64(n))
	}
	res.BaselineLossPct, res.BaselineLatencyP50Ms, _ = st.summary()
	return nil
}
