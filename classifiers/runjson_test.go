package classifiers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/motesvakt/motesvakt/locales"
)

func TestRunJSONSingle(t *testing.T) {
	e := testEngine(t)
	in := `{"subject":"Lönesamtal","organizer":"Chef <chef@kommun.se>","attendees":[{"email":"a@kommun.se"},"b@gmail.com"]}`
	var out bytes.Buffer
	failed, err := RunJSON(strings.NewReader(in), &out, e, locales.Swedish, false)
	if err != nil || failed != 0 {
		t.Fatalf("failed=%d err=%v", failed, err)
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if got, want := res.Profile, ProfileProtected; got != want {
		t.Errorf("profile = %s, want %s", got, want)
	}
	if got, want := strings.Join(res.ExternalDomains, ","), "gmail.com"; got != want {
		t.Errorf("external = %s, want %s", got, want)
	}
	if !bytes.Contains(out.Bytes(), []byte("\n  \"profile\"")) {
		t.Error("single-mode output is not indented")
	}

	out.Reset()
	_, err = RunJSON(strings.NewReader(`{"subject":`), &out, e, locales.Swedish, false)
	code, msg := Describe(err, locales.English)
	if code != CodeInvalidJSON || msg == "" || out.Len() != 0 {
		t.Errorf("bad JSON: code=%s msg=%q out=%q", code, msg, out.String())
	}
}

func TestRunJSONBatch(t *testing.T) {
	e := testEngine(t)
	huge := `{"subject":"` + strings.Repeat("a", MaxEventBytes+10) + `"}`
	many := make([]string, MaxAttendees+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"email":"p%d@kommun.se"}`, i)
	}
	lines := []struct {
		in   string
		code string // "" means a result
	}{
		{`{"subject":"Upphandling"}`, ""},
		{`{"subject":`, CodeInvalidJSON},
		{`{"subject":42}`, CodeInvalidType},
		{"{\"subject\":\"\xff\xfe\"}", CodeInvalidUTF8},
		{huge, CodeTooLarge},
		{`{"attendees":[` + strings.Join(many, ",") + `]}`, CodeTooManyAttendees},
		{`{"attendees":[{"email":"not an address"}]}`, CodeInvalidEmail},
		{`{"body":"` + strings.Repeat("x", MaxBodyBytes+1) + `"}`, CodeTooLarge},
		{`{"start":"yesterday"}`, CodeInvalidTime},
		{`[1,2]`, CodeInvalidType},
		{``, CodeEmpty},
		{`{"subject":"Webinar"}`, ""},
	}
	var in strings.Builder
	for _, l := range lines {
		in.WriteString(l.in + "\n")
	}
	var out bytes.Buffer
	failed, err := RunJSON(strings.NewReader(in.String()), &out, e, locales.Swedish, true)
	if err != nil {
		t.Fatal(err)
	}
	outLines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if got, want := len(outLines), len(lines); got != want {
		t.Fatalf("%d output lines, want %d", got, want)
	}
	wantFailed := 0
	for i, l := range lines {
		var eb ErrorBody
		_ = json.Unmarshal([]byte(outLines[i]), &eb)
		if got, want := eb.Error.Code, l.code; got != want {
			t.Errorf("line %d: code %q, want %q (%.80s)", i, got, want, outLines[i])
		}
		if l.code != "" {
			wantFailed++
			if eb.Error.Message == "" || strings.HasPrefix(eb.Error.Message, "[") {
				t.Errorf("line %d: message %q not localized", i, eb.Error.Message)
			}
		}
	}
	if failed != wantFailed {
		t.Errorf("failed = %d, want %d", failed, wantFailed)
	}
}

func TestValidateEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		code string
	}{
		{"ok", Event{Subject: "x", Attendees: []Attendee{{Email: "a.b+c@sub.kommun.se"}, {Email: "åsa@exempel.se"}}}, ""},
		{"subject too long", Event{Subject: strings.Repeat("x", MaxSubjectBytes+1)}, CodeTooLarge},
		{"bad utf8", Event{Body: "\xff"}, CodeInvalidUTF8},
		{"no at", Event{Attendees: []Attendee{{Email: "kommun.se"}}}, CodeInvalidEmail},
		{"no dot", Event{Attendees: []Attendee{{Email: "a@localhost"}}}, CodeInvalidEmail},
		{"space", Event{Attendees: []Attendee{{Email: "a b@x.se"}}}, CodeInvalidEmail},
		{"empty", Event{Attendees: []Attendee{{Email: ""}}}, CodeInvalidEmail},
		{"bad organizer", Event{Organizer: Attendee{Email: "@x.se"}}, CodeInvalidEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateEvent(tt.ev)
			var ie *InputError
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.code != "" && !errors.As(err, &ie):
				t.Fatalf("err = %v, want *InputError", err)
			case tt.code != "" && ie.Code != tt.code:
				t.Errorf("code = %s, want %s", ie.Code, tt.code)
			}
		})
	}
}
