package auth

import (
	"fmt"
	"net"
	"strings"

	"github.com/motesvakt/motesvakt/backend"
)

// DemoIssuer marks users created by the demo sign-in.
const DemoIssuer = "demo:loopback"

// DemoIdentity returns the identity the demo sign-in grants for email. Only
// addresses in an internal domain are accepted; admin adds the admin role.
// Demo users count as MFA-verified so protected meetings can be tried out;
// the demo banner says so and the server only listens on loopback.
func DemoIdentity(domains backend.Domains, email string, admin bool) (*Identity, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if !validEmail(email) {
		return nil, &backend.Error{Code: backend.EINVALID, Key: "auth.demo_bad_email", Field: "email"}
	}
	if !domains.Internal(email) {
		return nil, &backend.Error{Code: backend.EFORBIDDEN, Key: "auth.demo_not_internal", Field: "email", Args: []any{"Domains", strings.Join(domains, ", ")}}
	}
	id := &Identity{Issuer: DemoIssuer, Subject: email, Email: email, Name: strings.Split(email, "@")[0], EmailVerified: true, Internal: true, MFA: true,
		Roles: []backend.Role{backend.RoleHost}}
	if admin {
		id.Roles = append(id.Roles, backend.RoleAdmin)
	}
	return id, nil
}

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-3 && strings.Contains(s[at:], ".") && !strings.ContainsAny(s, " \t\r\n<>,;\"")
}

// CheckDemoListen refuses a non-loopback listen address in demo mode: the
// demo sign-in lets anyone become anyone, so it must never face a network.
func CheckDemoListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to listen on %q: without --oidc-issuer the demo sign-in is active, and it may only listen on loopback (127.0.0.1 or ::1). Configure OIDC to serve a network", addr)
	}
	return nil
}
