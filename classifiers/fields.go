package classifiers

// NormalizedField is one field of a draft in the form the engine matches
// and Reason.Start/End index into.
type NormalizedField struct {
	Field string
	Text  string
}

// NormalizedFields returns the draft's non-empty fields as Classify sees
// them, in its order (subject, location, body, attendees): HTML bodies
// reduced to text, NFC, lower case, invisible characters dropped, white
// space collapsed; attendees are the "; "-joined display names. Tools that
// show reasons in context (the admin test bench) use it so their offsets
// can never drift from the engine's.
func NormalizedFields(ev Event) []NormalizedField {
	var out []NormalizedField
	add := func(field, raw string) {
		if raw == "" {
			return
		}
		if field == "body" && looksLikeHTML(raw) {
			raw = htmlToText(raw)
		}
		b, _ := normalize(nil, raw, nil)
		if len(b) > 0 {
			out = append(out, NormalizedField{Field: field, Text: string(b)})
		}
	}
	add("subject", ev.Subject)
	add("location", ev.Location)
	add("body", ev.Body)
	add("attendees", attendeeNames(ev))
	return out
}
