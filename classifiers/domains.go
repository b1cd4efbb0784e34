package classifiers

import (
	"sort"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// builtinFreeMail lists consumer mail providers common in Sweden and
// internationally. An address there is a private person, not an
// organisation, which matters for guest verification.
var builtinFreeMail = []string{
	"gmail.com", "googlemail.com", "hotmail.com", "hotmail.se", "hotmail.co.uk", "outlook.com",
	"outlook.se", "live.com", "live.se", "msn.com", "yahoo.com", "yahoo.se", "yahoo.co.uk",
	"ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com",
	"pm.me", "gmx.com", "gmx.net", "gmx.de", "mail.com", "yandex.com", "zoho.com",
	"tutanota.com", "tuta.io", "fastmail.com", "hey.com", "telia.com", "spray.se",
	"bredband.net", "bredband2.com", "comhem.se", "bahnhof.se", "passagen.se", "home.se",
	"swipnet.se", "tele2.se", "glocalnet.net", "web.de", "t-online.de", "libero.it", "orange.fr",
	"free.fr", "laposte.net", "qq.com", "163.com", "mail.ru",
}

// normalizeDomain: NFC, lower case, no surrounding space or trailing dot.
func normalizeDomain(d string) string {
	d = strings.TrimSpace(d)
	d = strings.TrimPrefix(d, "@")
	d = strings.TrimSuffix(d, ".")
	return strings.ToLower(norm.NFC.String(d))
}

func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return normalizeDomain(addr[at+1:])
}

// isInternal: equal to an internal domain or a subdomain of one
// ("it.kommun.se" is internal when "kommun.se" is; "kommun.se.evil.com"
// and "notkommun.se" are not).
func isInternal(d string, internal []string) bool {
	for _, in := range internal {
		if d == in || (len(d) > len(in) && strings.HasSuffix(d, in) && d[len(d)-len(in)-1] == '.') {
			return true
		}
	}
	return false
}

// invitees counts each address once (organizer included) and collects
// the external and free-mail domains, sorted and unique.
func (e *Engine) invitees(ev Event) (external, free []string, c Counts) {
	internal := e.internal
	if len(internal) == 0 {
		if d := domainOf(ev.Organizer.Email); d != "" {
			internal = []string{d}
		}
	}
	seen := make(map[string]bool, len(ev.Attendees)+1)
	ext := map[string]bool{}
	add := func(addr string) {
		addr = strings.ToLower(strings.TrimSpace(addr))
		if addr == "" || seen[addr] {
			return
		}
		seen[addr] = true
		c.Attendees++
		d := domainOf(addr)
		if isInternal(d, internal) {
			c.Internal++
			return
		}
		c.External++
		ext[d] = true
	}
	add(ev.Organizer.Email)
	for _, a := range ev.Attendees {
		add(a.Email)
	}
	external, free = []string{}, []string{}
	for d := range ext {
		external = append(external, d)
		if e.freeMail[d] {
			free = append(free, d)
		}
	}
	sort.Strings(external)
	sort.Strings(free)
	return external, free, c
}
