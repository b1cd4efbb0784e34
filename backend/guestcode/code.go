// Package guestcode issues and checks the personal one-time codes that let an
// invited guest into a meeting's lobby.
//
// A code is 8 symbols from a 30-symbol alphabet with no look-alikes (no 0 O 1
// I L U), shown as XXXX-XXXX: 8·log2(30) ≈ 39.3 bits from crypto/rand. That is
// far above ASVS 6.5.4's 20 bits but below 64, so rate limits are mandatory
// (NIST 800-63B §3.1.3.2): a guest locks after 10 consecutive failures, and
// per-IP and per-meeting budgets with exponential backoff stop guessing spread
// across guests. With the lock alone an attacker's chance per guest is
// 10/30⁸ ≈ 1.5·10⁻¹¹.
//
// A code is stored only as HMAC-SHA-256(server key, meeting ‖ invitee ‖ code),
// so it is bound to its meeting and invitee (ASVS 6.6.2) and a database leak
// does not reveal codes without the key. Redeem answers every failure — wrong
// code, unknown e-mail, expired, not yet valid, revoked, locked — with the
// same ErrInvalid, so nothing tells which part was wrong (ASVS 6.3.8).
//
// The code is e-mailed days ahead, so NIST's 10-minute OOB lifetime cannot
// apply; validity follows the meeting instead: from 30 minutes before start
// to the end, per occurrence. A code may be redeemed again (rejoin after a
// dropped connection); each redeem bumps the invitee's generation and the
// caller ends every session of an older generation, so one guest has one live
// session. A human admitting from the lobby remains the real control: e-mail
// is not an NIST authenticator (§3.1.3.1).
package guestcode

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Alphabet holds the code symbols: digits 2–9 and A–Z without I, L, O, U.
// 0/O, 1/I/L look alike; U is left out as Crockford does (V/U confusion).
const Alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// Length is the number of symbols in a code (without the dash).
const Length = 8

// MeetingID and InviteeID keep the two ids from being swapped.
type (
	MeetingID string
	InviteeID string
)

// Code is a freshly issued code. The plaintext is reachable only through
// Reveal, for the invitation mail; String, GoString, JSON and slog show the
// id, never the code, so a stray log line cannot leak it.
type Code struct {
	ID         string
	Meeting    MeetingID
	Invitee    InviteeID
	ValidFrom  time.Time
	ValidUntil time.Time
	plain      string
}

// Reveal returns the code as XXXX-XXXX. Call it once, to put it in the mail.
func (c Code) Reveal() string { return Format(c.plain) }

func (c Code) String() string   { return "guestcode.Code{ID:" + c.ID + " <redacted>}" }
func (c Code) GoString() string { return c.String() }

// LogValue keeps the plaintext out of slog output.
func (c Code) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", c.ID), slog.String("meeting", string(c.Meeting)),
		slog.String("invitee", string(c.Invitee)))
}

// MarshalJSON omits the plaintext.
func (c Code) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"id":%q,"meeting":%q,"invitee":%q,"valid_from":%q,"valid_until":%q}`,
		c.ID, c.Meeting, c.Invitee, c.ValidFrom.UTC().Format(time.RFC3339), c.ValidUntil.UTC().Format(time.RFC3339)), nil
}

// generate draws Length symbols uniformly from Alphabet with crypto/rand,
// rejecting bytes ≥ 240 so that byte % 30 has no bias.
func generate() (string, error) {
	out := make([]byte, 0, Length)
	buf := make([]byte, 2*Length)
	for len(out) < Length {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("guestcode: random: %w", err)
		}
		for _, b := range buf {
			if b < 240 && len(out) < Length {
				out = append(out, Alphabet[int(b)%len(Alphabet)])
			}
		}
	}
	return string(out), nil
}

// Format shows a normalized code as XXXX-XXXX.
func Format(code string) string {
	if len(code) != Length {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// maxInput bounds the work the normaliser does on attacker input.
const maxInput = 64

// homoglyphs maps upper-case Cyrillic and Greek letters that look like Latin
// ones (a phone keyboard or a pasted code can produce them) to the Latin.
var homoglyphs = map[rune]rune{
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'Р': 'P', 'С': 'C', 'Т': 'T', 'Х': 'X',
	'У': 'Y', 'З': '3', 'Ѕ': 'S', 'Ј': 'J', 'Ү': 'Y',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ρ': 'P', 'Τ': 'T',
	'Υ': 'Y', 'Χ': 'X',
}

// NormalizeCode turns what a person typed or pasted into the stored form:
// NFKC (full-width → ASCII), upper case, look-alike Cyrillic/Greek → Latin,
// spaces, dashes, dots, underscores and zero-width characters dropped. ok is
// false unless the result is exactly Length symbols of Alphabet. The result
// is returned either way so a malformed guess costs the same HMAC as a
// well-formed one.
func NormalizeCode(s string) (code string, ok bool) {
	if len(s) > maxInput {
		return "", false
	}
	var b strings.Builder
	b.Grow(Length)
	ok = true
	for _, r := range norm.NFKC.String(s) {
		switch {
		case unicode.IsSpace(r), unicode.Is(unicode.Pd, r), r == '−', r == '_', r == '.', r == '·',
			unicode.Is(unicode.Cf, r): // zero-width space/joiners, BOM, soft hyphen
			continue
		}
		r = unicode.ToUpper(r)
		if m, found := homoglyphs[r]; found {
			r = m
		}
		if r > unicode.MaxASCII || !strings.ContainsRune(Alphabet, r) {
			ok = false
		}
		b.WriteRune(r)
	}
	code = b.String()
	if len(code) != Length {
		ok = false
	}
	return code, ok
}

// NormalizeEmail is the form e-mail addresses are stored and matched in:
// NFC, trimmed, lower case. Mail providers may treat the local part as case
// sensitive, but invitations never differ only by case.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(norm.NFC.String(s)))
}
