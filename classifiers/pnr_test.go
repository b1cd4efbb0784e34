package classifiers

import (
	"strings"
	"testing"
)

var pnrKeys = []string{"personnummer", "pnr", "samordningsnummer"}

func TestPersonnummer(t *testing.T) {
	tests := []struct {
		text   string
		masked string // "" means no hit
		high   bool
	}{
		{"640823-3234", "640823-****", false},
		{"701063-2391", "701063-****", false}, // samordningsnummer, day 03+60
		{"811218-9876", "811218-****", false},
		{"19640823-3234", "19640823-****", false},
		{"196408233234", "19640823****", false},
		{"6408233234", "640823****", false},
		{"640823+3234", "640823+****", false},
		{"640823 3234", "640823 ****", false},
		{"personnummer 811218-9876", "811218-****", true},
		{"pnr: 19811218-9876 i ärendet", "19811218-****", true},
		{"640823-3235", "", false},                      // Luhn fails
		{"556677-8899", "", false},                      // organisation number: month 66
		{"16556677-8899", "", false},                    // org number with 16 prefix
		{"811232-9876", "", false},                      // 32 December
		{"810229-1234", "", false},                      // 1981 and 2081 are not leap years
		{"21640823-3234", "", false},                    // century 21
		{"0701234567", "", false},                       // phone number
		{"070-123 45 67", "", false},                    // phone number
		{"+46 640823 3234", "", false},                  // continuation of a longer number
		{"tel 640823-3234", "", false},                  // labelled phone
		{"faktura 640823-3234", "", false},              // labelled invoice
		{"2024-05-17", "", false},                       // ISO date
		{"20240517", "", false},                         // compact date
		{"640823-32345", "", false},                     // too many digits
		{"a640823-3234", "", false},                     // glued to a word
		{"1.6408233234", "", false},                     // decimal number
		{"640823-3234-1", "", false},                    // longer reference
		{"personnummer 0001010107", "000101****", true}, // leading 0 ok with keyword
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			norm, _ := normalize(nil, tt.text, nil)
			hits := findPersonnummer(norm, pnrKeys, 300, nil)
			if tt.masked == "" {
				if len(hits) != 0 {
					t.Fatalf("got %d hits (%s), want none", len(hits), hits[0].masked)
				}
				return
			}
			if len(hits) != 1 {
				t.Fatalf("got %d hits, want 1", len(hits))
			}
			h := hits[0]
			if got, want := h.masked, tt.masked; got != want {
				t.Errorf("masked = %q, want %q", got, want)
			}
			if got, want := h.keyword, tt.high; got != want {
				t.Errorf("keyword = %v, want %v", got, want)
			}
			if got := string(norm[h.start:h.end]); maskPnr([]byte(got)) != h.masked {
				t.Errorf("span %q does not mask to %q", got, h.masked)
			}
		})
	}
}

func TestPersonnummerProximity(t *testing.T) {
	far := "personnummer " + strings.Repeat("x ", 200) + "811218-9876"
	norm, _ := normalize(nil, far, nil)
	hits := findPersonnummer(norm, pnrKeys, 300, nil)
	if len(hits) != 1 || hits[0].keyword {
		t.Fatalf("far keyword: hits %+v, want one medium hit", hits)
	}
	near := "personnummer " + strings.Repeat("x ", 100) + "811218-9876"
	norm, _ = normalize(nil, near, nil)
	hits = findPersonnummer(norm, pnrKeys, 300, nil)
	if len(hits) != 1 || !hits[0].keyword {
		t.Fatalf("near keyword: hits %+v, want one high hit", hits)
	}
}

func TestLuhn(t *testing.T) {
	for _, s := range []string{"6408233234", "7010632391", "8112189876", "6403273813", "9001010017"} {
		if !luhn([]byte(s)) {
			t.Errorf("luhn(%s) = false", s)
		}
	}
	if luhn([]byte("6408233235")) {
		t.Error("luhn(6408233235) = true")
	}
}
