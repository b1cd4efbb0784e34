package recorder

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/sfu"
)

// Formats stored in recorder_tracks.format.
const (
	FormatOggOpus = "ogg/opus"
	FormatIVFVP8  = "ivf/vp8"
)

// run is one start..stop of one room's recording; it is the room's
// sfu.TrackSink while it lasts.
type run struct {
	m           *Manager
	meeting     backend.MeetingID
	id          string
	deleteAfter time.Time

	mu      sync.RWMutex
	tracks  map[sfu.TrackID]*trackWriter
	order   []*trackWriter
	begun   bool
	halted  bool
	failure sync.Once
	wg      sync.WaitGroup
}

func newRun(m *Manager, meeting backend.MeetingID, id string, deleteAfter time.Time) *run {
	return &run{m: m, meeting: meeting, id: id, deleteAfter: deleteAfter, tracks: map[sfu.TrackID]*trackWriter{}}
}

type item struct {
	layer int
	pkt   *rtp.Packet
}

// trackWriter muxes one track into one encrypted file on its own goroutine.
type trackWriter struct {
	r    *run
	info sfu.TrackInfo
	q    chan item
	stop chan struct{}
	done chan struct{}

	dropped  atomic.Int64
	written  atomic.Int64
	maxLayer atomic.Int32
	curLayer atomic.Int32

	// Owned by the writer goroutine until done is closed.
	w          *recording.Writer
	media      interface{ WriteRTP(*rtp.Packet) error }
	packets    int64
	firstAt    time.Time
	firstTS    uint32
	tsOff      uint32
	lastTS     uint32
	lastMarker bool
	err        error
}

// WriteRTP implements sfu.TrackSink. It runs on the SFU's forwarding path:
// it copies pkt (the SFU reuses it) into the track's queue and returns at
// once; a full queue drops the packet and counts it.
func (r *run) WriteRTP(info sfu.TrackInfo, layer int, pkt *rtp.Packet) {
	r.mu.RLock()
	if r.halted {
		r.mu.RUnlock()
		return
	}
	t := r.tracks[info.ID]
	r.mu.RUnlock()
	if t == nil {
		if t = r.lateTrack(info); t == nil {
			return
		}
	}
	if info.Kind == "video" {
		l := int32(layer)
		for {
			cur := t.maxLayer.Load()
			if l <= cur || t.maxLayer.CompareAndSwap(cur, l) {
				break
			}
		}
		// Lower layers than the one being written are never needed.
		if l < t.curLayer.Load() {
			return
		}
	}
	select {
	case t.q <- item{layer: layer, pkt: pkt.Clone()}:
	default:
		t.dropped.Add(1)
	}
}

func (r *run) newTrack(info sfu.TrackInfo) *trackWriter {
	t := &trackWriter{r: r, info: info, q: make(chan item, r.m.cfg.QueueLen), stop: make(chan struct{}), done: make(chan struct{})}
	t.maxLayer.Store(-1)
	t.curLayer.Store(-1)
	return t
}

// createTrack creates the encrypted file and both rows for one track in tx.
func (r *run) createTrack(ctx context.Context, tx *sql.Tx, info sfu.TrackInfo, now time.Time) (*trackWriter, error) {
	t := r.newTrack(info)
	kind, format, rate := recording.KindAudio, FormatOggOpus, 48000
	if info.Kind == "video" {
		kind, format, rate = recording.KindVideo, FormatIVFVP8, 90000
	}
	w, err := r.m.cfg.Store.Create(ctx, tx, recording.Meta{
		MeetingID: recording.MeetingID(r.meeting), Track: string(info.ID), Kind: kind, DeleteAfter: r.deleteAfter,
	}, now)
	if err != nil {
		return nil, err
	}
	t.w = w
	r.mu.Lock()
	r.tracks[info.ID] = t
	r.order = append(r.order, t)
	r.mu.Unlock()
	if _, err := tx.ExecContext(ctx, `INSERT INTO recorder_tracks
		(recording_id, meeting_id, run_id, track_id, participant_id, source, kind, format, clock_rate, started)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(w.ID()), string(r.meeting), r.id, string(info.ID), string(info.Participant), string(info.Source),
		info.Kind, format, rate, now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("recorder: track %s: %w", info.ID, err)
	}
	if format == FormatOggOpus {
		t.media, err = oggwriter.NewWith(noClose{w}, 48000, 2)
	} else {
		t.media, err = ivfwriter.NewWith(noClose{w}, ivfwriter.WithCodec("video/VP8"))
	}
	if err != nil {
		return nil, fmt.Errorf("recorder: track %s: container header: %w", info.ID, err)
	}
	return t, nil
}

// noClose keeps pion's writers from closing the recording.Writer: Finish
// closes it and records the outcome.
type noClose struct{ w io.Writer }

func (n noClose) Write(p []byte) (int, error) { return n.w.Write(p) }

// lateTrack starts recording a track published after Start. Its file is
// created on the track's own goroutine, never on the forwarding path; the
// packets that arrive meanwhile wait in the queue.
func (r *run) lateTrack(info sfu.TrackInfo) *trackWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return nil
	}
	if t := r.tracks[info.ID]; t != nil {
		return t
	}
	t := r.newTrack(info)
	r.tracks[info.ID] = t
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.m.inTx(ctx, func(tx *sql.Tx) error {
			created, err := r.createTrackLate(ctx, tx, info)
			if err == nil {
				r.mu.Lock()
				t.w, t.media = created.w, created.media
				r.mu.Unlock()
			}
			return err
		})
		cancel()
		if err != nil {
			if t.w != nil {
				t.w.Close()
				os.Remove(filepath.Join(r.m.cfg.Store.Dir(), string(t.w.ID())+".age"))
				t.w = nil
			}
			t.err = err
			r.m.cfg.Log.Error("recorder: late track not recorded", "meeting", r.meeting, "track", info.ID, "err", err)
		}
		r.mu.Lock()
		r.order = append(r.order, t)
		r.mu.Unlock()
		t.loop()
	}()
	return t
}

// createTrackLate is createTrack without registering the writer (lateTrack
// already did).
func (r *run) createTrackLate(ctx context.Context, tx *sql.Tx, info sfu.TrackInfo) (*trackWriter, error) {
	tmp := newRun(r.m, r.meeting, r.id, r.deleteAfter)
	return tmp.createTrack(ctx, tx, info, r.m.now())
}

// begin starts the writer goroutines of the tracks created at Start.
func (r *run) begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begun = true
	for _, t := range r.order {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			t.loop()
		}()
	}
}

// halt stops accepting packets, lets every writer drain its queue and waits
// for them.
func (r *run) halt() {
	r.mu.Lock()
	r.halted = true
	ts := make([]*trackWriter, 0, len(r.tracks))
	for _, t := range r.tracks {
		ts = append(ts, t)
	}
	r.mu.Unlock()
	for _, t := range ts {
		close(t.stop)
	}
	r.wg.Wait()
}

// abandon discards a run whose rows were rolled back.
func (r *run) abandon() {
	r.mu.Lock()
	r.halted = true
	ts := r.order
	r.mu.Unlock()
	for _, t := range ts {
		if t.w != nil {
			t.w.Close()
			// The row and its wrapped key are gone: this file can never be
			// decrypted. Remove it rather than wait for Recover.
			os.Remove(filepath.Join(r.m.cfg.Store.Dir(), string(t.w.ID())+".age"))
		}
	}
}

// all returns the run's tracks in creation order (after halt).
func (r *run) all() []*trackWriter {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*trackWriter(nil), r.order...)
}

func (r *run) stats() []Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Stats
	for _, t := range r.tracks {
		s := Stats{Track: t.info.ID, Kind: t.info.Kind, Packets: t.written.Load(), Dropped: t.dropped.Load()}
		if t.w != nil {
			s.Recording = t.w.ID()
		}
		out = append(out, s)
	}
	return out
}

func (t *trackWriter) loop() {
	defer close(t.done)
	tick := time.NewTicker(t.r.m.cfg.SyncEvery)
	defer tick.Stop()
	for {
		select {
		case it := <-t.q:
			t.write(it)
		case <-tick.C:
			if t.w != nil && t.err == nil {
				if err := t.w.Sync(); err != nil {
					t.fail(err)
				}
			}
		case <-t.stop:
			for {
				select {
				case it := <-t.q:
					t.write(it)
				default:
					return
				}
			}
		}
	}
}

func (t *trackWriter) write(it item) {
	if t.err != nil || t.media == nil {
		return
	}
	pkt := it.pkt
	if t.info.Kind == "video" && !t.pickLayer(it.layer, pkt) {
		return
	}
	if t.packets == 0 {
		t.firstAt, t.firstTS = t.r.m.cfg.Now().UTC(), pkt.Timestamp
	}
	if err := t.media.WriteRTP(pkt); err != nil {
		if werr := t.w.Err(); werr != nil {
			t.fail(werr)
		}
		// Otherwise a malformed payload: skip the packet, keep the stream.
		return
	}
	t.packets++
	t.written.Add(1)
}

// pickLayer keeps one simulcast layer: the highest present. It switches up
// only on a keyframe that starts a frame, after the current frame ended,
// and rebases timestamps so the file's timeline stays continuous.
func (t *trackWriter) pickLayer(layer int, pkt *rtp.Packet) bool {
	cur := int(t.curLayer.Load())
	if layer != cur {
		if layer < cur || layer < int(t.maxLayer.Load()) || !vp8KeyframeStart(pkt.Payload) || cur >= 0 && !t.lastMarker {
			return false
		}
		if cur >= 0 {
			t.tsOff = t.lastTS + 3000 - pkt.Timestamp // one 30 fps frame after the last
		}
		t.curLayer.Store(int32(layer))
	}
	pkt.Timestamp += t.tsOff
	t.lastTS, t.lastMarker = pkt.Timestamp, pkt.Marker
	return true
}

func (t *trackWriter) fail(err error) {
	t.err = err
	t.r.failure.Do(func() { go t.r.m.failRun(t.r, err) })
}

// vp8KeyframeStart reports whether payload starts a VP8 key frame.
func vp8KeyframeStart(payload []byte) bool {
	var p codecs.VP8Packet
	if _, err := p.Unmarshal(payload); err != nil || len(p.Payload) == 0 {
		return false
	}
	return p.S == 1 && p.PID == 0 && p.Payload[0]&0x01 == 0
}
