package sfu_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

// recHooks records every hook call and can refuse actions.
type recHooks struct {
	mu     sync.Mutex
	calls  []string
	refuse bool
}

func (h *recHooks) rec(s string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, s)
	if h.refuse {
		return errors.New("refused")
	}
	return nil
}
func (h *recHooks) Admit(_ context.Context, _ sfu.RoomID, by, whom sfu.Identity) error {
	return h.rec("admit " + string(by.ID) + " " + string(whom.ID))
}
func (h *recHooks) Deny(_ context.Context, _ sfu.RoomID, by, whom sfu.Identity) error {
	return h.rec("deny " + string(by.ID) + " " + string(whom.ID))
}
func (h *recHooks) Moderate(_ context.Context, _ sfu.RoomID, by sfu.Identity, action string, t sfu.Identity) error {
	return h.rec(action + " " + string(by.ID) + " " + string(t.ID))
}
func (h *recHooks) Joined(context.Context, sfu.RoomID, sfu.Identity) {}
func (h *recHooks) Left(context.Context, sfu.RoomID, sfu.Identity)   {}
func (h *recHooks) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func newSFU(t testing.TB, hooks sfu.Hooks, mod func(*sfu.Config)) *sfu.SFU {
	t.Helper()
	cfg := sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, AnswerTimeout: 5 * time.Second, PLIThrottle: 100 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	s, err := sfu.New(cfg, hooks, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// tclient is a test participant (sfutest.Session).
type tclient = sfutest.Session

// connect starts a session for who and sends join.
func connect(t testing.TB, room *sfu.Room, who sfu.Identity) *tclient {
	t.Helper()
	return sfutest.Connect(t, room, who)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func expect(t testing.TB, c *tclient, typ string, match func(sfu.Message) bool) sfu.Message {
	t.Helper()
	return sfutest.MustExpect(t, c.Client, 5*time.Second, typ, match)
}

func expectError(t testing.TB, c *tclient, code string) sfu.Message {
	t.Helper()
	return expect(t, c, sfu.TypeError, func(m sfu.Message) bool { return m.Error != nil && m.Error.Code == code })
}

func who(id string, role sfu.Role, level sfu.IdentityLevel, internal bool) sfu.Identity {
	return sfu.Identity{ID: sfu.ParticipantID(id), DisplayName: id, Email: id + "@example.se", Role: role, Level: level, Internal: internal, Invited: true}
}

func host(id string) sfu.Identity { return who(id, sfu.RoleHost, sfu.LevelInternalMFA, true) }

// pump writes synthetic media to a published track until ctx ends: VP8 with
// a keyframe every keyEvery packets and on demand, or Opus carrying an audio
// level. The payload body carries the layer marker so tests can tell layers apart.
func pump(ctx context.Context, p *sfutest.Published, marker func(rid string) byte, level func() uint8) {
	_, _, levelID := p.ExtIDs()
	var wg sync.WaitGroup
	for rid, tr := range p.Tracks {
		wg.Add(1)
		go func(rid string, tr *webrtc.TrackLocalStaticRTP) {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			seq := uint16(1000)
			ts := uint32(5000)
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				seq++
				body := make([]byte, 40)
				body[0] = marker(rid)
				binary.BigEndian.PutUint64(body[1:], uint64(time.Now().UnixNano()))
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: true}}
				if p.Spec.Kind == webrtc.RTPCodecTypeVideo {
					ts += 3000
					// Keyframe every 10 packets (200ms): fast layer switches in tests.
					pkt.Payload = sfutest.VP8Payload(uint16(i), i%10 == 0, body)
				} else {
					ts += 960
					pkt.Payload = body
					if levelID != 0 && level != nil {
						_ = pkt.Header.SetExtension(levelID, []byte{0x80 | level()})
					}
				}
				if mid, ridID, _ := p.ExtIDs(); rid != "" && mid != 0 && ridID != 0 {
					_ = pkt.Header.SetExtension(mid, []byte(p.Transceiver.Mid()))
					_ = pkt.Header.SetExtension(ridID, []byte(rid))
				}
				_ = tr.WriteRTP(pkt)
			}
		}(rid, tr)
	}
	wg.Wait()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func bytesFrom(c *tclient, kind webrtc.RTPCodecType, stream string) int64 {
	var n int64
	for _, tr := range c.Tracks() {
		if tr.Kind == kind && (stream == "" || tr.StreamID == stream) {
			n += tr.Bytes.Load()
		}
	}
	return n
}
