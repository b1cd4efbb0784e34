package backend

import "strings"

// Domains is the organisation's set of internal e-mail domains. A subdomain
// of an internal domain is internal; comparison ignores case.
type Domains []string

// ParseDomains splits a comma list, trimming space, dots and case.
func ParseDomains(s string) Domains {
	var d Domains
	for _, p := range strings.Split(s, ",") {
		p = strings.Trim(strings.ToLower(strings.TrimSpace(p)), ".")
		if p != "" {
			d = append(d, p)
		}
	}
	return d
}

// Internal reports whether the address's domain is internal.
func (d Domains) Internal(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 || at == len(email)-1 {
		return false
	}
	host := strings.Trim(strings.ToLower(email[at+1:]), ".")
	for _, dom := range d {
		if host == dom || strings.HasSuffix(host, "."+dom) {
			return true
		}
	}
	return false
}
