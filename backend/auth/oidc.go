// Package auth signs internal users in with OpenID Connect (authorization
// code flow with PKCE, state and nonce), verifies ID tokens with go-oidc,
// derives roles and MFA from claims, and provides the loopback-only demo
// sign-in used when no issuer is configured.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/motesvakt/motesvakt/backend"
	"golang.org/x/oauth2"
)

// Config configures the OIDC sign-in.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is <public URL>/auth/callback.
	RedirectURL string
	// Scopes beyond "openid"; default profile, email.
	Scopes []string
	// RolesClaim names the claim that carries group or role names
	// (a string or a list of strings). Default "groups".
	RolesClaim string
	// AdminRoles and HostRoles are claim values that grant our roles. With
	// no HostRoles every signed-in user of an internal domain may host.
	AdminRoles []string
	HostRoles  []string
	// MFAAMR lists amr values that count as multi-factor (RFC 8176), MFAACR
	// acr values. Default amr: mfa, otp, hwk, swk, sc, fpt, face, sms.
	MFAAMR []string
	MFAACR []string
	// InternalDomains decide who is internal.
	InternalDomains backend.Domains
}

// DefaultMFAAMR are RFC 8176 amr values that imply a second factor or a
// phishing-resistant authenticator.
var DefaultMFAAMR = []string{"mfa", "otp", "hwk", "swk", "sc", "fpt", "face", "sms", "iris", "retina", "vbm"}

// FlowTTL bounds how long a user may take at the identity provider.
const FlowTTL = 10 * time.Minute

// OIDC is a configured relying party.
type OIDC struct {
	cfg      Config
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	now      func() time.Time
}

// NewOIDC discovers the issuer. It fails when the issuer cannot be reached
// or announces a different issuer string.
func NewOIDC(ctx context.Context, cfg Config) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("auth: oidc needs an issuer and a client id")
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "groups"
	}
	if len(cfg.MFAAMR) == 0 {
		cfg.MFAAMR = DefaultMFAAMR
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"profile", "email"}
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: discover %s: %w", cfg.Issuer, err)
	}
	o := &OIDC{cfg: cfg, provider: p, now: time.Now}
	o.oauth = oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  cfg.RedirectURL,
		Scopes:       append([]string{oidc.ScopeOpenID}, cfg.Scopes...),
	}
	o.verifier = p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: func() time.Time { return o.now() }})
	return o, nil
}

// SetClock replaces the clock used for token expiry checks (tests).
func (o *OIDC) SetClock(now func() time.Time) { o.now = now }

// Flow is what must be remembered between redirect and callback.
type Flow struct {
	State, Nonce, Verifier string
}

// Begin starts a sign-in and returns the authorization URL to redirect to.
// State, nonce and PKCE verifier each have 256 random bits.
func (o *OIDC) Begin() (authURL string, f Flow, err error) {
	if f.State, err = randomToken(); err != nil {
		return "", f, err
	}
	if f.Nonce, err = randomToken(); err != nil {
		return "", f, err
	}
	f.Verifier = oauth2.GenerateVerifier()
	authURL = o.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	return authURL, f, nil
}

// Identity is what a verified ID token says about the user.
type Identity struct {
	Issuer, Subject, Email, Name string
	EmailVerified                bool
	Roles                        []backend.Role
	MFA                          bool
	Internal                     bool
}

// Finish exchanges the code (with the PKCE verifier), verifies the ID token
// — issuer, audience, expiry and signature via go-oidc, the nonce here,
// because go-oidc leaves that to the caller — and extracts the identity.
func (o *OIDC) Finish(ctx context.Context, f Flow, code string) (*Identity, error) {
	if code == "" {
		return nil, backend.Errorf(backend.EINVALID, "auth.bad_callback")
	}
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, &backend.Error{Code: backend.EUNAUTHORIZED, Key: "auth.exchange_failed", Err: err}
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, backend.Errorf(backend.EUNAUTHORIZED, "auth.no_id_token")
	}
	return o.verifyIDToken(ctx, raw, f.Nonce)
}

func (o *OIDC) verifyIDToken(ctx context.Context, raw, nonce string) (*Identity, error) {
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return nil, &backend.Error{Code: backend.EUNAUTHORIZED, Key: "auth.token_expired", Err: err}
		}
		return nil, &backend.Error{Code: backend.EUNAUTHORIZED, Key: "auth.token_invalid", Err: err}
	}
	if idt.Nonce == "" || idt.Nonce != nonce {
		return nil, backend.Errorf(backend.EUNAUTHORIZED, "auth.bad_nonce")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, &backend.Error{Code: backend.EUNAUTHORIZED, Key: "auth.token_invalid", Err: err}
	}
	return o.identity(idt.Issuer, idt.Subject, claims), nil
}

func (o *OIDC) identity(issuer, subject string, claims map[string]any) *Identity {
	id := &Identity{Issuer: issuer, Subject: subject}
	id.Email, _ = claims["email"].(string)
	if id.Email == "" {
		id.Email, _ = claims["preferred_username"].(string)
	}
	id.Email = strings.ToLower(id.Email)
	id.Name, _ = claims["name"].(string)
	id.EmailVerified, _ = claims["email_verified"].(bool)
	id.Internal = o.cfg.InternalDomains.Internal(id.Email)
	values := stringList(claims[o.cfg.RolesClaim])
	if intersects(values, o.cfg.AdminRoles) {
		id.Roles = append(id.Roles, backend.RoleAdmin)
	}
	if (len(o.cfg.HostRoles) == 0 && id.Internal) || intersects(values, o.cfg.HostRoles) {
		id.Roles = append(id.Roles, backend.RoleHost)
	}
	acr, _ := claims["acr"].(string)
	id.MFA = intersects(stringList(claims["amr"]), o.cfg.MFAAMR) || (acr != "" && slices.Contains(o.cfg.MFAACR, acr))
	return id
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// SafeReturnTo keeps post-login redirects on our own site: only absolute
// paths, no scheme-relative "//host" and no backslash tricks.
func SafeReturnTo(s string) string {
	if s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return s
}
