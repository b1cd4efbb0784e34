package recorder

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/motesvakt/motesvakt/sfu"
)

// TestWriteRTPNeverBlocks: with the writer stalled, a full queue drops and
// counts instead of blocking the SFU's forwarding goroutine.
func TestWriteRTPNeverBlocks(t *testing.T) {
	m := &Manager{cfg: Config{QueueLen: 4}}
	r := newRun(m, "m", "run_x", time.Now())
	info := sfu.TrackInfo{ID: "t1", Kind: "audio"}
	r.tracks[info.ID] = r.newTrack(info) // no writer goroutine: nothing drains
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: []byte{0xF8, 0xFF, 0xFE}}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		r.WriteRTP(info, 0, pkt)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("1000 WriteRTP calls took %v with a stalled writer", d)
	}
	tw := r.tracks[info.ID]
	if got, want := tw.dropped.Load(), int64(996); got != want {
		t.Errorf("dropped = %d, want %d", got, want)
	}
	// The queue holds copies: the SFU reuses its packet buffer.
	pkt.Payload[0] = 0
	if it := <-tw.q; it.pkt.Payload[0] != 0xF8 {
		t.Error("queued packet aliases the caller's buffer")
	}
}

type frameLog struct{ ts []uint32 }

func (f *frameLog) WriteRTP(p *rtp.Packet) error { f.ts = append(f.ts, p.Timestamp); return nil }

// TestSimulcastPicksHighest: only the highest layer is written, the switch
// up waits for a keyframe at a frame boundary, and timestamps stay
// continuous across the switch.
func TestSimulcastPicksHighest(t *testing.T) {
	m := &Manager{cfg: Config{QueueLen: 64, Now: time.Now}}
	r := newRun(m, "m", "run_x", time.Now())
	info := sfu.TrackInfo{ID: "v", Kind: "video"}
	tw := r.newTrack(info)
	log := &frameLog{}
	tw.media = log
	vp8 := func(key bool) []byte {
		tag := byte(0x01)
		if key {
			tag = 0
		}
		return []byte{0x10, tag, 0, 0}
	}
	feed := func(layer int, ts uint32, key bool) {
		tw.maxLayer.Store(max(tw.maxLayer.Load(), int32(layer)))
		tw.write(item{layer: layer, pkt: &rtp.Packet{Header: rtp.Header{Timestamp: ts, Marker: true}, Payload: vp8(key)}})
	}
	feed(0, 1000, false) // no keyframe yet: skipped
	feed(0, 4000, true)  // layer 0 starts
	feed(0, 7000, false)
	feed(1, 500000, false) // layer 1 appears, no keyframe: layer 0 goes on
	feed(0, 10000, false)
	feed(1, 503000, true) // keyframe on layer 1: switch
	feed(0, 13000, false) // lower layer ignored from now on
	feed(1, 506000, false)
	want := []uint32{4000, 7000, 10000, 13000, 16000}
	if len(log.ts) != len(want) {
		t.Fatalf("written timestamps = %v, want %v", log.ts, want)
	}
	for i := range want {
		if log.ts[i] != want[i] {
			t.Fatalf("written timestamps = %v, want %v", log.ts, want)
		}
	}
}
