package classifiers

import (
	"bytes"
	"strings"
)

// pnrHit is one Swedish personal identity or coordination number.
type pnrHit struct {
	start, end int    // span in the text
	masked     string // birth date and separator kept, last four digits masked
	keyword    bool   // a keyword was within the proximity window
}

// A phone, invoice or reference label just before a number means it is not
// a personal number, even when the digits happen to pass the checks.
var pnrNegativeContext = []string{"tel", "tfn", "telefon", "mobil", "phone", "fax", "växel",
	"faktura", "invoice", "ocr", "order", "dnr", "diarie", "ref", "kundnummer", "kundnr",
	"avtal", "konto", "account", "bankgiro", "plusgiro", "bg", "pg", "org", "organisationsnummer",
	"momsreg", "vat", "iban", "swish", "ärendenummer", "case no", "ticket"}

// findPersonnummer scans normalized text for personnummer and
// samordningsnummer: [CC]YYMMDD, optional '-', '+' or ' ', NNNC, where the
// date is a real calendar date (day+60 for samordningsnummer), the century
// (12-digit form) is 18, 19 or 20, and C is the Luhn check digit over the
// 10-digit form. Organisation numbers fail the date check by construction
// (their third digit is ≥ 2, so the "month" is ≥ 20).
func findPersonnummer(t []byte, keywords []string, window int, out []pnrHit) []pnrHit {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' {
			continue
		}
		// Start of a digit run that is not glued to a word or a number.
		if i > 0 && (isDigit(t[i-1]) || wordBefore(t, i) || t[i-1] == '.' || t[i-1] == ',' || t[i-1] == '/') {
			i = skipDigits(t, i) - 1
			continue
		}
		// A preceding "<digit><space or dash>" makes this a later group of a
		// longer number, e.g. "+46 70 811218 9876".
		if i >= 2 && (t[i-1] == ' ' || t[i-1] == '-' || t[i-1] == '+') && isDigit(t[i-2]) {
			i = skipDigits(t, i) - 1
			continue
		}
		j := skipDigits(t, i)
		n := j - i
		var digits [12]byte
		var nd, end int
		var sep byte
		switch {
		case (n == 10 || n == 12) && !wordAt(t, j):
			copy(digits[:], t[i:j])
			nd, end = n, j
		case (n == 6 || n == 8) && j+5 <= len(t) && (t[j] == '-' || t[j] == '+' || t[j] == ' ') &&
			skipDigits(t, j+1) == j+5 && !wordAt(t, j+5):
			copy(digits[:], t[i:j])
			copy(digits[n:], t[j+1:j+5])
			nd, end, sep = n+4, j+5, t[j]
		default:
			i = j - 1
			continue
		}
		// A following "<space or dash><digit>" continues a longer number.
		if end+1 < len(t) && (t[end] == ' ' || t[end] == '-') && isDigit(t[end+1]) {
			i = end - 1
			continue
		}
		d := digits[:nd]
		if nd == 12 {
			cent := int(d[0]-'0')*10 + int(d[1]-'0')
			if cent < 18 || cent > 20 {
				i = end - 1
				continue
			}
		}
		if !validPnr(d) {
			i = end - 1
			continue
		}
		if negativeBefore(t, i) {
			i = end - 1
			continue
		}
		kw := keywordNear(t, i, end, keywords, window)
		// An unseparated ten-digit number starting with 0 is far more often
		// a Swedish phone number (070…, 08…) than a child's personnummer;
		// accept it only with a keyword nearby.
		if nd == 10 && sep == 0 && d[0] == '0' && !kw {
			i = end - 1
			continue
		}
		out = append(out, pnrHit{start: i, end: end, masked: maskPnr(t[i:end]), keyword: kw})
		i = end - 1
	}
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func skipDigits(t []byte, i int) int {
	for i < len(t) && isDigit(t[i]) {
		i++
	}
	return i
}

// validPnr checks date and Luhn on 10 or 12 digits (no separator).
func validPnr(d []byte) bool {
	var year int
	century := -1
	if len(d) == 12 {
		century = int(d[0]-'0')*10 + int(d[1]-'0')
		d = d[2:]
	}
	if len(d) != 10 {
		return false
	}
	yy := int(d[0]-'0')*10 + int(d[1]-'0')
	mm := int(d[2]-'0')*10 + int(d[3]-'0')
	dd := int(d[4]-'0')*10 + int(d[5]-'0')
	if dd > 60 {
		dd -= 60 // samordningsnummer
	}
	if mm < 1 || mm > 12 || dd < 1 {
		return false
	}
	if century >= 0 {
		year = century*100 + yy
		if dd > daysIn(mm, year) {
			return false
		}
	} else if dd > daysIn(mm, 1900+yy) && dd > daysIn(mm, 2000+yy) {
		// Ten digits carry no century; 29 February is fine if either
		// century makes it a leap year.
		return false
	}
	return luhn(d)
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// luhn over exactly the ten digits YYMMDDNNNC, weights 2,1,2,1…
func luhn(d []byte) bool {
	sum := 0
	for i, c := range d {
		v := int(c - '0')
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// maskPnr keeps the date part and separator, masking the last four digits:
// "811218-9876" → "811218-****". The full number never leaves the engine.
func maskPnr(s []byte) string {
	b := []byte(string(s))
	masked := 0
	for k := len(b) - 1; k >= 0 && masked < 4; k-- {
		if isDigit(b[k]) {
			b[k] = '*'
			masked++
		}
	}
	return string(b)
}

func negativeBefore(t []byte, i int) bool {
	lo := max(0, i-25)
	w := t[lo:i]
	for _, k := range pnrNegativeContext {
		if idx := bytes.LastIndex(w, []byte(k)); idx >= 0 && !wordBefore(w, idx) {
			return true
		}
	}
	return false
}

// keywordNear reports a keyword that starts a token within window bytes
// either side of the number (Purview: 300 characters).
func keywordNear(t []byte, s, e int, keywords []string, window int) bool {
	lo, hi := max(0, s-window), min(len(t), e+window)
	w := string(t[lo:hi])
	for _, k := range keywords {
		for off := 0; ; {
			idx := strings.Index(w[off:], k)
			if idx < 0 {
				break
			}
			p := lo + off + idx
			if !wordBefore(t, p) {
				return true
			}
			off += idx + len(k)
		}
	}
	return false
}
