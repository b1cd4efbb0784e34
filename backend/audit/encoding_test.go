package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// unhex joins annotated hex fragments; whitespace is ignored.
func unhex(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(strings.Join(parts, " ")), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // 1767225600000 ms = 0x19b76daa800

// TestCanonicalGolden pins the v1 encoding byte for byte. The expected hashes
// were computed outside Go (Python hashlib over the same annotated bytes), so
// this test checks the encoder against an independent reading of the spec in
// encoding.go. If it fails, the encoding changed: every stored chain breaks.
func TestCanonicalGolden(t *testing.T) {
	seq := func(b byte) [32]byte {
		var h [32]byte
		for i := range h {
			h[i] = byte(i) + b
		}
		return h
	}
	tests := []struct {
		name string
		rec  Record
		want []byte
		hash string
	}{
		{
			name: "genesis, no details, no ip",
			rec: Record{Seq: 1, Entry: Entry{Time: t0, Actor: System, Action: MeetingCreated,
				MeetingID: "m1", Outcome: Success}},
			want: unhex(t,
				"01",                    // version 1
				"0000000000000001",      // seq 1
				"0000019b76daa800",      // time 2026-01-01T00:00:00.000Z in ms
				"00000006 73797374656d", // actor "system"
				"00000000",              // actor_ip ""
				"0000000f 6d656574696e672e63726561746564", // action "meeting.created"
				"00000002 6d31",           // meeting_id "m1"
				"00000000",                // subject ""
				"00000007 73756363657373", // outcome "success"
				"00000000",                // 0 details
				strings.Repeat("00", 32),  // prev_hash: zero for seq 1
			),
			hash: "d708aa6050d720be6561f5ed170e1495b916845e8fcd48f2e64753b2454469a5",
		},
		{
			name: "details sorted by key, UTF-8, ip, prev hash",
			rec: Record{Seq: 2, PrevHash: seq(0), Entry: Entry{
				Time: t0.Add(123 * time.Millisecond), Actor: GuestActor("inv-7"), ActorIP: "192.0.2.1",
				Action: LobbyAdmit, MeetingID: "m1", Subject: "guest:inv-7", Outcome: Denied,
				Details: map[string]string{"reason": "Å", "evidence": "code"}, // inserted out of order
			}},
			want: unhex(t,
				"01",
				"0000000000000002",                 // seq 2
				"0000019b76daa87b",                 // time +123 ms
				"0000000b 67756573743a696e762d37",  // actor "guest:inv-7"
				"00000009 3139322e302e322e31",      // actor_ip "192.0.2.1"
				"0000000b 6c6f6262792e61646d6974",  // action "lobby.admit"
				"00000002 6d31",                    // meeting_id "m1"
				"0000000b 67756573743a696e762d37",  // subject "guest:inv-7"
				"00000006 64656e696564",            // outcome "denied"
				"00000002",                         // 2 details
				"00000008 65766964656e6365",        //   key "evidence" (sorts first)
				"00000004 636f6465",                //   value "code"
				"00000006 726561736f6e",            //   key "reason"
				"00000002 c385",                    //   value "Å" (2 UTF-8 bytes)
				"000102030405060708090a0b0c0d0e0f", // prev_hash
				"101112131415161718191a1b1c1d1e1f",
			),
			hash: "b3b8134b59114ba35df501173d97bacc8def4871fac8782425c2cae6faa1f509",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rec.Canonical()
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Canonical()\n got %x\nwant %x", got, tt.want)
			}
			if got, want := tt.rec.ComputeHash().String(), tt.hash; got != want {
				t.Errorf("ComputeHash() = %s, want %s", got, want)
			}
			back, err := ParseCanonical(got)
			if err != nil {
				t.Fatalf("ParseCanonical: %v", err)
			}
			if got, want := back.Hash.String(), tt.hash; got != want {
				t.Errorf("ParseCanonical hash = %s, want %s", got, want)
			}
			if !bytes.Equal(back.Canonical(), tt.want) {
				t.Errorf("round trip changed the bytes")
			}
		})
	}
}

func TestCanonicalNilAndEmptyDetailsAgree(t *testing.T) {
	a := Record{Seq: 1, Entry: Entry{Time: t0, Actor: System, Action: SignIn, Outcome: Success}}
	b := a
	b.Details = map[string]string{}
	if a.ComputeHash() != b.ComputeHash() {
		t.Fatal("nil and empty details hash differently")
	}
}

func TestParseCanonicalRejects(t *testing.T) {
	good := Record{Seq: 1, Entry: Entry{Time: t0, Actor: System, Action: SignIn, Outcome: Success,
		Details: map[string]string{"a": "1", "b": "2"}}}.Canonical()
	// Offset of the detail count: everything before it is fixed for this record.
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version 2", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"seq 0", append(append([]byte{1}, make([]byte, 8)...), good[9:]...)},
		{"unsorted keys", bytes.Replace(good, []byte("\x01a\x00\x00\x00\x011"), []byte("\x01z\x00\x00\x00\x011"), 1)},
		{"duplicate keys", bytes.Replace(good, []byte("\x01b"), []byte("\x01a"), 1)},
		{"string not UTF-8", bytes.Replace(good, []byte("system"), []byte("syst\xffm"), 1)},
		{"huge string length", bytes.Replace(good, []byte("\x00\x00\x00\x06system"), []byte("\x7f\xff\xff\xffsystem"), 1)},
		{"huge detail count", bytes.Replace(good, []byte("\x00\x00\x00\x02\x00\x00\x00\x01a"), []byte("\xff\xff\xff\xff\x00\x00\x00\x01a"), 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseCanonical(tt.in); !errors.Is(err, errDecode) {
				t.Errorf("ParseCanonical(%x) err = %v, want errDecode", tt.in, err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	ok := Entry{Time: t0, Actor: System, Action: SignIn, Outcome: Success}
	with := func(f func(*Entry)) Entry { e := ok; f(&e); return e }
	bad := []struct {
		name string
		e    Entry
	}{
		{"no time", with(func(e *Entry) { e.Time = time.Time{} })},
		{"no actor", with(func(e *Entry) { e.Actor = "" })},
		{"actor with space", with(func(e *Entry) { e.Actor = "user x" })},
		{"action upper case", with(func(e *Entry) { e.Action = "Sign.In" })},
		{"action empty", with(func(e *Entry) { e.Action = "" })},
		{"outcome unknown", with(func(e *Entry) { e.Outcome = "maybe" })},
		{"ip garbage", with(func(e *Entry) { e.ActorIP = "10.0.0.300" })},
		{"subject not UTF-8", with(func(e *Entry) { e.Subject = "\xff" })},
		{"subject too long", with(func(e *Entry) { e.Subject = strings.Repeat("x", maxStringLen+1) })},
		{"detail key code", with(func(e *Entry) { e.Details = map[string]string{"code": "ABCD-EFGH"} })},
		{"detail key token", with(func(e *Entry) { e.Details = map[string]string{"token": "x"} })},
		{"detail key personnummer", with(func(e *Entry) { e.Details = map[string]string{"personnummer": "x"} })},
		{"detail key upper", with(func(e *Entry) { e.Details = map[string]string{"Reason": "x"} })},
		{"too many details", with(func(e *Entry) {
			e.Details = map[string]string{}
			for i := range maxDetails + 1 {
				e.Details[string(rune('a'+i%26))+strings.Repeat("x", i)] = "v"
			}
		})},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := normalize(tt.e); !errors.Is(err, ErrInvalidEntry) {
				t.Errorf("normalize err = %v, want ErrInvalidEntry", err)
			}
		})
	}
	t.Run("canonical forms", func(t *testing.T) {
		e, err := normalize(with(func(e *Entry) {
			e.Time = time.Date(2026, 1, 1, 1, 0, 0, 123456789, time.FixedZone("CET", 3600))
			e.ActorIP = "::ffff:192.0.2.1"
			e.Details = map[string]string{}
		}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := e.Time, t0.Add(123*time.Millisecond); !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("time = %v, want %v UTC", got, want)
		}
		if got, want := e.ActorIP, "192.0.2.1"; got != want {
			t.Errorf("ip = %q, want %q", got, want)
		}
		if e.Details != nil {
			t.Errorf("empty details not normalised to nil")
		}
	})
}

// FuzzParseCanonical: decoding never panics, and whatever decodes re-encodes
// to exactly the input (one record, one byte string).
func FuzzParseCanonical(f *testing.F) {
	f.Add(Record{Seq: 1, Entry: Entry{Time: t0, Actor: System, Action: MeetingCreated, Outcome: Success}}.Canonical())
	f.Add(Record{Seq: 9, Entry: Entry{Time: t0, Actor: GuestActor("g"), ActorIP: "::1", Action: CodeFailed,
		MeetingID: "m", Subject: "s", Outcome: Failure, Details: map[string]string{"a": "b", "c": "ä"}}}.Canonical())
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseCanonical(b)
		if err != nil {
			return
		}
		if got := r.Canonical(); !bytes.Equal(got, b) {
			t.Fatalf("re-encode differs:\n got %x\n  in %x", got, b)
		}
		if r.ComputeHash() != r.Hash {
			t.Fatal("hash of decoded record differs from hash of input")
		}
	})
}
