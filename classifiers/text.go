package classifiers

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/unicode/norm"
)

// normalize appends the matching form of s to dst: Unicode NFC, lower case
// (full Unicode, so Å/Ä/Ö fold — ASCII folding does not), soft hyphens and
// zero-width characters removed (Outlook inserts them inside compounds),
// every run of white space collapsed to one ASCII space, leading and
// trailing space trimmed. Reason offsets are byte offsets into this form.
func normalize(dst []byte, s string, scratch []byte) ([]byte, []byte) {
	src := s
	if !isASCII(s) && !norm.NFC.IsNormalString(s) {
		// Rare (macOS and some web forms send NFD): compose first, since NFC
		// can reorder combining marks across the whole string.
		scratch = norm.NFC.AppendString(scratch[:0], s)
		src = string(scratch)
	}
	start := len(dst)
	space := true // suppress leading space
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
				if !space {
					dst = append(dst, ' ')
					space = true
				}
				continue
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			space = false
			continue
		}
		r, n := utf8.DecodeRuneInString(src[i:])
		i += n
		switch {
		case r == '\u00ad' || r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff':
			continue
		case unicode.IsSpace(r):
			if !space {
				dst = append(dst, ' ')
				space = true
			}
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		space = false
	}
	if space && len(dst) > start {
		dst = dst[:len(dst)-1]
	}
	return dst, scratch
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// looksLikeHTML is deliberately cheap: a '<' followed by a letter, '/' or
// '!' somewhere before a '>'. Plain text like "a < b" stays plain.
func looksLikeHTML(s string) bool {
	for i := strings.IndexByte(s, '<'); i >= 0 && i+1 < len(s); {
		c := s[i+1]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '/' || c == '!' {
			if strings.IndexByte(s[i+1:], '>') >= 0 {
				return true
			}
			return false
		}
		j := strings.IndexByte(s[i+1:], '<')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// htmlToText reduces an HTML body (Outlook and Gmail send whole documents)
// to its visible text: entities decoded, script/style/head dropped, block
// elements and <br> become line breaks so words in adjacent cells or
// paragraphs do not run together.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s) / 2)
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template, atom.Noscript:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.Br, atom.P, atom.Div, atom.Li, atom.Tr, atom.Td, atom.Th, atom.H1, atom.H2,
				atom.H3, atom.H4, atom.H5, atom.H6, atom.Table, atom.Ul, atom.Ol, atom.Blockquote,
				atom.Pre, atom.Hr, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Dd, atom.Dt:
				b.WriteByte('\n')
			}
		}
	}
}

// isWordRune: letters, digits and combining marks form tokens; everything
// else (space, punctuation, hyphen, apostrophe) separates them, which is why
// "HR-möte" yields the token "hr".
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') || ('A' <= r && r <= 'Z')
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func wordBefore(t []byte, i int) bool {
	if i <= 0 {
		return false
	}
	r, _ := utf8.DecodeLastRune(t[:i])
	return isWordRune(r)
}

func wordAt(t []byte, i int) bool {
	if i >= len(t) {
		return false
	}
	r, _ := utf8.DecodeRune(t[i:])
	return isWordRune(r)
}

// maxTokenBytes bounds how far the matcher looks for a word's edges. No
// real word is longer; without the bound a 256 KiB run of letters with a
// term every few bytes would cost quadratic time.
const maxTokenBytes = 128

// tokenStart moves i back to the start of the token containing t[i-1],
// or returns -1 when that token is longer than maxTokenBytes.
func tokenStart(t []byte, i int) int {
	lo := i - maxTokenBytes
	for i > 0 {
		if i < lo {
			return -1
		}
		r, n := utf8.DecodeLastRune(t[:i])
		if !isWordRune(r) {
			break
		}
		i -= n
	}
	return i
}

// tokenEnd moves j forward to the end of the token containing t[j], or
// returns -1 when that token is longer than maxTokenBytes.
func tokenEnd(t []byte, j int) int {
	hi := j + maxTokenBytes
	for j < len(t) {
		if j > hi {
			return -1
		}
		r, n := utf8.DecodeRune(t[j:])
		if !isWordRune(r) {
			break
		}
		j += n
	}
	return j
}
