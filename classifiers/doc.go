// Package classifiers proposes a security profile (open, internal,
// protected) for a draft meeting and explains why. It is pure: no I/O
// beyond reading rule packs, no imports from backend or sfu.
//
// # Usage
//
//	pol, _ := classifiers.DefaultPolicy("kommun.se")   // embedded packs + DESIGN.md profiles
//	eng, err := classifiers.Compile(pol)               // *ValidationError lists every problem
//	ev, err := classifiers.DecodeEvent(body)           // HTTP: size, UTF-8, types, limits → *InputError
//	res, err := eng.Classify(ev, locales.Swedish)
//	n, err := classifiers.RunJSON(os.Stdin, os.Stdout, eng, lang, batch) // the CLI loop
//
// An Engine is immutable and safe for concurrent use; compile once and
// swap the pointer when admins change rules.
//
// # Rule packs
//
// One YAML file per category in packs/ (embedded; LoadPacks reads the same
// format from a directory, MarshalPack writes it). Unknown keys are errors.
//
//	category: procurement          # lower-case name; locales key classify.category.<name>
//	profile: protected             # open | internal | protected
//	downgrade: allowed_with_reason # or forbidden: hosts may not choose a lower profile
//	terms:
//	  - {text: anbud, lang: sv, match: stem, weight: 1}
//
// match is token (whole word only; required for terms of three letters or
// fewer: "hr" matches "HR-möte", never "Ahrén", "Christmas", "three"),
// prefix (the word starts with the term, followed by nothing, a closed list
// of inflection endings — "anbuden", "tenders" but not "tenderness" — or,
// for Swedish, a compound tail of three or more letters: "anbudsöppning")
// or stem (prefix, and for Swedish also the tail of a closed compound:
// "säkerhetsincident", "dataintrång"). English terms never match inside a
// word ("tender" does not match "attender"). Compound tails starting with
// "fri"/"lös" negate ("incidentfri" is not an incident). A category fires
// when the weights of its distinct matches sum to at least 1, so weak terms
// (weight 0.5) need company. The personal_id pack uses the built-in
// detector instead of terms (see below).
//
// # Text handling and offsets
//
// Bodies that look like HTML are reduced to text with x/net/html (entities
// decoded; script, style and head dropped; block elements become line
// breaks). Every field is then normalized: NFC, full Unicode lower case,
// soft hyphens and zero-width characters removed, white-space runs
// collapsed to one space and trimmed. Reason.Start and Reason.End are BYTE
// offsets into that normalized text of the reason's field, and Match is the
// slice [Start:End) widened to whole words. Field "attendees" is the
// organizer's and attendees' display names joined with "; ".
//
// # Personal identity numbers
//
// Personnummer and samordningsnummer: [CC]YYMMDD, optional '-', '+' or
// space, NNNC; a real calendar date (day minus 60 for samordningsnummer),
// century 18–20 in the 12-digit form, Luhn over the 10-digit form. Numbers
// glued to letters, decimals or longer digit groups (phone numbers such as
// "+46 70 …") are skipped, as are numbers labelled tel/faktura/ocr/org/ref…
// in the 25 bytes before them, and unseparated ten-digit numbers starting
// with 0 (phone numbers) unless a keyword is near. Organisation numbers fail
// the date check (third digit ≥ 2). A keyword within 300 bytes gives
// confidence high, otherwise medium; both make the meeting protected. The
// match is always masked ("811218-****"); the full number is never returned.
//
// # Profile
//
// The strictest fired pack decides: protected > internal > open. A public
// (open) pack opens the meeting only when nothing stricter fired; no signal
// at all gives internal. External invitees never make a meeting more open;
// they are reported (external_domains, sorted and unique; a subdomain of an
// internal domain is internal; case-insensitive; the organizer counts) and
// free-mail domains are flagged. With no internal domains configured the
// organizer's domain counts as internal.
//
// # Input limits
//
// Enforced by ValidateEvent/DecodeEvent, each failure an *InputError with a
// stable Code and a locales key (classify.error.<code>):
//
//	encoded event (JSON document or JSON Lines line)  1 MiB    too_large
//	subject, location, recurrence                     1 KiB    too_large
//	body                                              256 KiB  too_large
//	attendee or organizer name                        256 B    too_large
//	attendees                                         1000     too_many_attendees
//	e-mail address syntax, 254 B                               invalid_email
//	valid UTF-8 (checked on raw bytes before JSON)             invalid_utf8
//	malformed JSON / wrong JSON type / bad time                invalid_json / invalid_type / invalid_time
//	empty input                                                empty
//
// Words longer than 128 bytes are never matched, which bounds the work on
// pathological input. At most MaxReasons (100) reasons are returned.
//
// HTTP mapping for the integrator: too_large → 413, every other code → 400.
package classifiers
