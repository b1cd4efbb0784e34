package recorder_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

func ptr[T any](v T) *T { return &v }

// TestRecordThroughSFU records a pion publisher (Opus microphone and a
// two-layer simulcast VP8 camera) through a real SFU over loopback, started
// and stopped by the host's record command.
func TestRecordThroughSFU(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	_, room := e.meeting("m1", classifiers.ProfileInternal)
	host := connect(t, room, hostID("h1"))
	expect(t, host, sfu.TypeWelcome, nil)
	listener := connect(t, room, ident("u2", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	expect(t, listener, sfu.TypeWelcome, nil)

	pubs, err := host.Publish(ctxT(t, 10*time.Second),
		sfutest.TrackSpec{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone},
		sfutest.TrackSpec{ID: "cam", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera, RIDs: []string{"q", "f"}})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stopPump := context.WithCancel(ctx)
	defer stopPump()
	for _, p := range pubs {
		go pump(pctx, p, 20*time.Millisecond, nil)
	}
	eventually(t, 10*time.Second, "both tracks published", func() bool { return len(room.Snapshot().Tracks) == 2 })

	if err := host.Send(sfu.Message{Type: sfu.TypeRecord, On: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	expect(t, listener, sfu.TypeRecordingState, func(m sfu.Message) bool { return m.Recording != nil && *m.Recording })
	started := time.Now()
	eventually(t, 10*time.Second, "video recorded", func() bool {
		for _, s := range e.rec.Stats("m1") {
			if s.Kind == "video" && s.Packets > 20 {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second)
	if err := host.Send(sfu.Message{Type: sfu.TypeRecord, On: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	expect(t, listener, sfu.TypeRecordingState, func(m sfu.Message) bool { return m.Recording != nil && !*m.Recording })
	recorded := time.Since(started)
	// The meeting went on: the listener still receives media after the stop.
	before := listenerBytes(listener)
	eventually(t, 5*time.Second, "media after stop", func() bool { return listenerBytes(listener) > before })
	stopPump()

	recs, err := e.store.ListMeeting(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(recs), 2; got != want {
		t.Fatalf("recordings = %d, want %d", got, want)
	}
	for _, r := range recs {
		t.Run(string(r.Kind), func(t *testing.T) {
			if got, want := r.State, recording.StateFinished; got != want {
				t.Fatalf("state = %s, want %s", got, want)
			}
			raw, err := os.ReadFile(filepath.Join(e.store.Dir(), r.Path))
			if err != nil {
				t.Fatal(err)
			}
			for _, magic := range [][]byte{[]byte("OggS"), []byte("OpusHead"), []byte("DKIF"), []byte("VP80"), plainMarker, plainMarker[:8]} {
				if bytes.Contains(raw, magic) {
					t.Errorf("file on disk contains plaintext %q", magic)
				}
			}
			tr, err := e.rec.TrackOf(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Participant != "h1" || tr.FirstPacket.IsZero() || tr.Stopped.IsZero() {
				t.Errorf("timing metadata = %+v", tr)
			}
			rc, err := e.store.Open(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := int64(len(plain)), r.Bytes; got != want {
				t.Errorf("decrypted %d bytes, row says %d", got, want)
			}
			switch r.Kind {
			case recording.KindAudio:
				if got, want := tr.Format, recorder.FormatOggOpus; got != want {
					t.Errorf("format = %s, want %s", got, want)
				}
				pages, granule := parseOgg(t, plain)
				if got, want := int64(pages), tr.Packets; got != want {
					t.Errorf("ogg data pages = %d, packets written = %d", got, want)
				}
				if got, want := granule, uint64(tr.Packets)*960; got != want {
					t.Errorf("final granule = %d, want %d (20 ms per packet)", got, want)
				}
				// 50 packets a second for as long as recording was on, give or
				// take scheduling on a shared machine.
				if want := recorded.Seconds() * 50; float64(tr.Packets) < want*0.6 || float64(tr.Packets) > want*1.2 {
					t.Errorf("audio packets = %d for %v recorded (want about %.0f)", tr.Packets, recorded, want)
				}
			case recording.KindVideo:
				frames, layers := parseIVF(t, plain)
				if got, want := int64(frames), tr.Packets; got != want {
					t.Errorf("ivf frames = %d, packets written = %d", got, want)
				}
				if len(layers) != 1 || layers['f'] == 0 {
					t.Errorf("frames per layer = %v, want only the highest layer 'f'", layers)
				}
			}
		})
	}
	recsAudit := auditActions(t, e.db.SQL(), "m1")
	for _, a := range []audit.Action{audit.RecordingStarted, audit.RecordingStopped} {
		r := findAudit(recsAudit, a, audit.Success)
		if r == nil {
			t.Fatalf("no %s audit entry", a)
		}
		if got, want := r.Actor, audit.Actor("participant:h1"); got != want {
			t.Errorf("%s actor = %s, want %s", a, got, want)
		}
	}
	if n := countAudit(recsAudit, audit.RecordingStarted); n != 1 {
		t.Errorf("recording.started entries = %d, want 1 (the inner hooks must not log it again)", n)
	}
}

func countAudit(recs []audit.Record, a audit.Action) int {
	n := 0
	for _, r := range recs {
		if r.Action == a {
			n++
		}
	}
	return n
}

func listenerBytes(c *client) int64 {
	var n int64
	for _, tr := range c.Tracks() {
		n += tr.Bytes.Load()
	}
	return n
}

func parseOgg(t *testing.T, plain []byte) (dataPages int, granule uint64) {
	t.Helper()
	r, hdr, err := oggreader.NewWith(bytes.NewReader(plain))
	if err != nil {
		t.Fatalf("not an Ogg/Opus stream: %v", err)
	}
	if hdr.SampleRate != 48000 || hdr.Channels != 2 {
		t.Errorf("OpusHead = %+v", hdr)
	}
	sawMarker := false
	for {
		payload, ph, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ogg page: %v", err)
		}
		if bytes.HasPrefix(payload, []byte("OpusTags")) {
			continue
		}
		dataPages++
		granule = ph.GranulePosition
		sawMarker = sawMarker || bytes.Contains(payload, plainMarker)
	}
	if !sawMarker {
		t.Error("decrypted audio does not carry the sent payloads")
	}
	return dataPages, granule
}

func parseIVF(t *testing.T, plain []byte) (frames int, layers map[byte]int) {
	t.Helper()
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(plain))
	if err != nil {
		t.Fatalf("not an IVF stream: %v", err)
	}
	if got, want := string(hdr.FourCC[:]), "VP80"; got != want {
		t.Errorf("fourcc = %q, want %q", got, want)
	}
	layers = map[byte]int{}
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ivf frame %d: %v", frames, err)
		}
		frames++
		if len(frame) < 2 || !bytes.Contains(frame, plainMarker) {
			t.Fatalf("frame %d does not carry the sent payload", frames)
		}
		layers[frame[1]]++
	}
	if frames == 0 {
		t.Fatal("no video frames")
	}
	if frame0 := plain[32+12]; frame0&0x01 != 0 {
		t.Error("first frame is not a keyframe")
	}
	return frames, layers
}

// TestStartRefusals: each bad start is refused with its own message, leaves
// nothing on disk and no recording row, and the meeting goes on.
func TestStartRefusals(t *testing.T) {
	ctx := context.Background()
	host := recorder.Actor{Audit: "user:h", Host: true}
	tests := []struct {
		name    string
		profile classifiers.Profile
		by      recorder.Actor
		down    bool
		twice   bool
		want    error
		key     string
	}{
		{"protected room", classifiers.ProfileProtected, host, false, false, recording.ErrNotAllowed, "recording.refused.not_allowed"},
		{"not a host", classifiers.ProfileInternal, recorder.Actor{Audit: "user:x"}, false, false, recording.ErrNotHost, "recording.refused.not_host"},
		{"provider down", classifiers.ProfileInternal, host, true, false, recording.ErrProviderUnavailable, "recording.refused.provider_down"},
		{"twice", classifiers.ProfileOpen, host, false, true, recording.ErrAlreadyRecording, "recording.refused.already_recording"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := envOpt{}
			if tc.down {
				v, err := recording.NewVaultTransit(recording.VaultConfig{Addr: closedPort(t), Key: "motesvakt", Token: "test-token"})
				if err != nil {
					t.Fatal(err)
				}
				o.keys = v
			}
			e := newEnv(t, o)
			_, room := e.meeting("m", tc.profile)
			c := connect(t, room, hostID("h"))
			expect(t, c, sfu.TypeWelcome, nil)
			pubs, err := c.Publish(ctxT(t, 10*time.Second), sfutest.TrackSpec{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
			if err != nil {
				t.Fatal(err)
			}
			pctx, stop := context.WithCancel(ctx)
			defer stop()
			go pump(pctx, pubs[0], 20*time.Millisecond, nil)
			eventually(t, 10*time.Second, "track published", func() bool { return len(room.Snapshot().Tracks) == 1 })

			if tc.twice {
				if err := e.rec.Start(ctx, "m", host); err != nil {
					t.Fatalf("first start: %v", err)
				}
				defer e.rec.Stop(ctx, "m", host)
			}
			err = e.rec.Start(ctx, "m", tc.by)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start = %v, want %v", err, tc.want)
			}
			var re *recorder.RefusalError
			if !errors.As(err, &re) {
				t.Fatalf("Start error %T is not a RefusalError", err)
			}
			if got, want := re.Key, tc.key; got != want {
				t.Errorf("key = %s, want %s", got, want)
			}
			if got := re.LocalizedMessage(locales.Swedish); got == "" || got == re.Key {
				t.Errorf("no Swedish message for %s: %q", re.Key, got)
			}
			if got, want := re.Code(), sfu.CodeRecordingRefused; got != want {
				t.Errorf("code = %s, want %s", got, want)
			}
			if tc.twice {
				return
			}
			if room.Recording() || e.rec.Recording("m") {
				t.Error("room is recording after a refusal")
			}
			recs, _ := e.store.ListMeeting(ctx, "m")
			if len(recs) != 0 {
				t.Errorf("%d recording rows after a refusal", len(recs))
			}
			files, _ := os.ReadDir(e.store.Dir())
			if len(files) != 0 {
				t.Errorf("%d files in the store after a refusal", len(files))
			}
			select {
			case <-c.Closed():
				t.Error("host was disconnected by a refusal")
			default:
			}
		})
	}
}

// TestProviderDownThroughSFU: the host's record command with Vault down is
// refused, every participant keeps seeing "not recording", and the meeting
// goes on.
func TestProviderDownThroughSFU(t *testing.T) {
	v, err := recording.NewVaultTransit(recording.VaultConfig{Addr: closedPort(t), Key: "motesvakt", Token: "test-token"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpt{keys: v})
	_, room := e.meeting("m", classifiers.ProfileInternal)
	c := connect(t, room, hostID("h"))
	expect(t, c, sfu.TypeWelcome, nil)
	if err := c.Send(sfu.Message{Type: sfu.TypeRecord, On: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	m := expect(t, c, sfu.TypeError, nil)
	// The SFU answers hook_failed today; see the report for surfacing the
	// RefusalError's own code and message.
	if m.Error == nil || (m.Error.Code != sfu.CodeHookFailed && m.Error.Code != sfu.CodeRecordingRefused) {
		t.Fatalf("error = %+v", m.Error)
	}
	if room.Recording() {
		t.Fatal("room says recording while the key provider is down")
	}
	if err := c.Send(sfu.Message{Type: sfu.TypePing, ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, sfu.TypePong, nil)
	if r := findAudit(auditActions(t, e.db.SQL(), "m"), audit.RecordingStarted, audit.Failure); r == nil || r.Details["reason"] != "recording.refused.provider_down" {
		t.Errorf("refused start audit = %+v", r)
	}
}

// TestProtectedRoomRefusedBySFU: in a protected room the SFU itself refuses
// the record command before any hook runs.
func TestProtectedRoomRefusedBySFU(t *testing.T) {
	e := newEnv(t, envOpt{})
	_, room := e.meeting("m", classifiers.ProfileProtected)
	c := connect(t, room, hostID("h"))
	expect(t, c, sfu.TypeWelcome, nil)
	if err := c.Send(sfu.Message{Type: sfu.TypeRecord, On: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	m := expect(t, c, sfu.TypeError, nil)
	if got, want := m.Error.Code, sfu.CodeRecordingRefused; got != want {
		t.Errorf("code = %s, want %s", got, want)
	}
	if room.Recording() {
		t.Error("protected room is recording")
	}
}
