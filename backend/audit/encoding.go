package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// The canonical encoding of a record, version 1. Everything that is hashed
// goes through here, so the rules are strict:
//
//   - Fields appear in exactly this order. Do NOT reorder, insert or remove a
//     field; a change needs a new version byte and Verify must keep decoding v1.
//
//   - Integers are big-endian and fixed width. No floats, no varints.
//
//   - Strings are a uint32 big-endian byte length followed by UTF-8 bytes.
//
//   - Details are a uint32 count followed by key, value string pairs sorted by
//     key (bytewise), keys unique. nil and empty maps encode identically.
//
//   - PrevHash is 32 raw bytes, all zero for the first entry.
//
//     offset  size  field
//     0       1     version (0x01)
//     1       8     seq        uint64
//     9       8     time       int64, Unix milliseconds UTC
//     17      4+n   actor
//     …       4+n   actor_ip   ("" when unknown)
//     …       4+n   action
//     …       4+n   meeting_id
//     …       4+n   subject
//     …       4+n   outcome
//     …       4+Σ   details
//     …       32    prev_hash
//
// The hash is SHA-256(leafPrefix ‖ encoding). The prefix byte separates this
// hash's domain from any other use of SHA-256 in the product; 0x01 is kept for
// interior nodes should a Merkle tree (RFC 6962, x/mod/sumdb/tlog) be added.
const (
	encodingV1 byte = 0x01
	leafPrefix byte = 0x00
)

// Canonical returns the record's canonical encoding (without the hash). Seq,
// Time and PrevHash must already be set.
func (r Record) Canonical() []byte {
	n := 1 + 8 + 8 + 6*4 + len(r.Actor) + len(r.ActorIP) + len(r.Action) + len(r.MeetingID) +
		len(r.Subject) + len(r.Outcome) + 4 + 32
	for k, v := range r.Details {
		n += 8 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, encodingV1)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixMilli()))
	for _, s := range []string{string(r.Actor), r.ActorIP, string(r.Action), r.MeetingID, r.Subject, string(r.Outcome)} {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Details)))
	for _, k := range sortedKeys(r.Details) {
		b = appendString(b, k)
		b = appendString(b, r.Details[k])
	}
	b = append(b, r.PrevHash[:]...)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ComputeHash returns SHA-256(0x00 ‖ r.Canonical()). It ignores r.Hash.
func (r Record) ComputeHash() Hash {
	h := sha256.New()
	h.Write([]byte{leafPrefix})
	h.Write(r.Canonical())
	var out Hash
	h.Sum(out[:0])
	return out
}

var errDecode = errors.New("audit: malformed canonical encoding")

// ParseCanonical decodes a canonical encoding. It accepts only what Canonical
// produces (sorted unique detail keys, valid UTF-8, no trailing bytes), so
// decode∘encode is the identity and two different byte strings never decode
// to the same record. The returned record's Hash is computed from b.
func ParseCanonical(b []byte) (Record, error) {
	d := decoder{b: b}
	var r Record
	if v := d.byte(); v != encodingV1 {
		return Record{}, fmt.Errorf("%w: version %#x", errDecode, v)
	}
	seq := d.uint64()
	if seq == 0 || seq > 1<<62 {
		d.fail("seq out of range")
	}
	r.Seq = int64(seq)
	r.Time = time.UnixMilli(int64(d.uint64())).UTC()
	r.Actor = Actor(d.string())
	r.ActorIP = d.string()
	r.Action = Action(d.string())
	r.MeetingID = d.string()
	r.Subject = d.string()
	r.Outcome = Outcome(d.string())
	n := d.uint32()
	if d.err == nil && n > 0 {
		if int(n) > len(d.b)/8 { // each pair takes at least 8 bytes
			d.fail("detail count exceeds input")
		} else {
			r.Details = make(map[string]string, n)
			prev := ""
			for i := uint32(0); i < n && d.err == nil; i++ {
				k, v := d.string(), d.string()
				if i > 0 && k <= prev {
					d.fail("detail keys not sorted and unique")
				}
				prev = k
				r.Details[k] = v
			}
		}
	}
	copy(r.PrevHash[:], d.take(32))
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Record{}, d.err
	}
	r.Hash = sha256.Sum256(append([]byte{leafPrefix}, b...))
	return r, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errDecode, why)
	}
}

func (d *decoder) take(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.fail("truncated")
	}
	if d.err != nil {
		// Fixed-width readers (1, 4, 8, 32 bytes) still get a zero buffer
		// of the size they index, so a failed decode never panics.
		return make([]byte, min(max(n, 0), 32))
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte     { return d.take(1)[0] }
func (d *decoder) uint32() uint32 { return binary.BigEndian.Uint32(d.take(4)) }
func (d *decoder) uint64() uint64 { return binary.BigEndian.Uint64(d.take(8)) }
func (d *decoder) string() string {
	n := d.uint32()
	if d.err != nil {
		return ""
	}
	if uint64(n) > uint64(len(d.b)) {
		d.fail("string longer than input")
		return ""
	}
	s := d.take(int(n))
	if d.err == nil && !utf8.Valid(s) {
		d.fail("string is not UTF-8")
	}
	return string(s)
}
