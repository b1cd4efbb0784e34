package sfu

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// discardWriter stands in for pion's SRTP write stream: it records the last
// header and drops the packet, so benchmarks measure our path only.
type discardWriter struct {
	n    int
	last rtp.Header
	buf  []byte
}

func (w *discardWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.n++
	w.last = *h
	return len(payload), nil
}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func testDown(layers int) (*downTrack, *discardWriter) {
	s := &source{room: &Room{s: &SFU{}}, info: TrackInfo{ID: "t", Kind: "video"}, codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	for range layers {
		s.layers = append(s.layers, &layer{})
	}
	d := newDownTrack(s, nil)
	w := &discardWriter{}
	d.bound, d.ssrc, d.pt, d.ws = true, 4242, 96, w
	return d, w
}

func vp8(key bool) []byte {
	tag := byte(1)
	if key {
		tag = 0
	}
	return append([]byte{0x90, 0x80, 0x80, 0x01, tag}, make([]byte, 1100)...)
}

func TestVP8Keyframe(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"key with picture id", vp8(true), true},
		{"delta", vp8(false), false},
		{"continuation packet", []byte{0x80, 0x80, 0x80, 0x01, 0x00}, false},
		{"minimal key", []byte{0x10, 0x00}, true},
		{"empty", nil, false},
		{"truncated", []byte{0x90, 0x80}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isVP8Keyframe(tc.b); got != tc.want {
				t.Errorf("isVP8Keyframe = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDownTrackLayerSwitch: the down track waits for a keyframe before
// starting, keeps the old layer until the target layer's keyframe, and
// rewrites sequence numbers and timestamps so the output is continuous.
func TestDownTrackLayerSwitch(t *testing.T) {
	d, w := testDown(2)
	d.setTarget(0)
	send := func(layer int, seq uint16, ts uint32, key bool) {
		d.writeRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: uint32(100 + layer)}, Payload: vp8(key)}, layer, key)
	}
	send(0, 10, 1000, false) // no keyframe yet: dropped
	if got := w.n; got != 0 {
		t.Fatalf("wrote %d before a keyframe", got)
	}
	send(0, 11, 4000, true)
	send(0, 12, 7000, false)
	send(1, 500, 90000, false) // other layer: ignored
	if got, want := w.n, 2; got != want {
		t.Fatalf("wrote %d, want %d", got, want)
	}
	if got, want := w.last.SSRC, uint32(4242); got != want {
		t.Errorf("ssrc = %d, want %d", got, want)
	}
	lastSeq, lastTS := w.last.SequenceNumber, w.last.Timestamp

	d.setTarget(1)
	send(1, 501, 93000, false) // target layer delta: not yet
	send(0, 13, 10000, false)  // old layer continues meanwhile
	if got, want := w.n, 3; got != want {
		t.Fatalf("wrote %d, want %d", got, want)
	}
	if got, want := w.last.SequenceNumber, lastSeq+1; got != want {
		t.Errorf("seq = %d, want %d", got, want)
	}
	lastSeq, lastTS = w.last.SequenceNumber, w.last.Timestamp
	send(1, 502, 96000, true) // keyframe on target: switch
	send(0, 14, 13000, false) // old layer now ignored
	send(1, 503, 99000, false)
	if got, want := w.n, 5; got != want {
		t.Fatalf("wrote %d, want %d", got, want)
	}
	if got, want := d.Layer(), 1; got != want {
		t.Errorf("layer = %d, want %d", got, want)
	}
	if got, want := w.last.SequenceNumber, lastSeq+2; got != want {
		t.Errorf("seq after switch = %d, want %d (continuous)", got, want)
	}
	if w.last.Timestamp <= lastTS {
		t.Errorf("timestamp went backwards across the switch: %d after %d", w.last.Timestamp, lastTS)
	}
	// Audio-level and other publisher extensions never leak with the
	// publisher's ids.
	if w.last.Extension || len(w.last.Extensions) != 0 {
		t.Errorf("extensions forwarded: %+v", w.last.Extensions)
	}
}

// BenchmarkForward compares the down-track write path (per subscriber and
// packet, discarding writer) with a plain copy of the same packet measured
// in the same run. Report the ratio downtrack/plain_copy.
func BenchmarkForward(b *testing.B) {
	payload := vp8(false)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 1, Timestamp: 1, SSRC: 1, Marker: true}, Payload: payload}
	b.Run("plain_copy", func(b *testing.B) {
		dst := make([]byte, 1500)
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h := pkt.Header
			h.SequenceNumber = uint16(i)
			n, _ := h.MarshalTo(dst)
			copy(dst[n:], pkt.Payload)
		}
	})
	b.Run("downtrack", func(b *testing.B) {
		d, _ := testDown(1)
		d.writeRTP(&rtp.Packet{Header: pkt.Header, Payload: vp8(true)}, 0, true)
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			pkt.SequenceNumber = uint16(i)
			d.writeRTP(pkt, 0, false)
		}
	})
}
