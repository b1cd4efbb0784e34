package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/motesvakt/motesvakt/backend"
)

// BearerConfig configures verification of the access tokens the Outlook
// add-in sends (OfficeRuntime.auth.getAccessToken or nested app auth). They
// are Entra ID v2 access tokens for our own API: iss is the tenant's v2
// issuer, aud our application (client) ID, scp carries access_as_user.
type BearerConfig struct {
	// Issuer is the accepted issuer. "{tenantid}" is replaced by the token's
	// tid claim (multi-tenant discovery documents publish it that way), e.g.
	// https://login.microsoftonline.com/{tenantid}/v2.0.
	Issuer string
	// JWKSURL is where the signing keys are, e.g.
	// https://login.microsoftonline.com/common/discovery/v2.0/keys.
	JWKSURL string
	// Audiences are accepted aud values: the API's client ID and, for v1
	// tokens, its Application ID URI (api://host/client-id).
	Audiences []string
	// Tenants lists accepted tid values. Empty accepts any tenant only when
	// Issuer has no {tenantid} placeholder (single tenant).
	Tenants []string
	// Scope must be one of the space-separated values of scp. Default
	// access_as_user.
	Scope string
	// MFAAMR are amr values that count as a second factor; default
	// DefaultMFAAMR.
	MFAAMR []string
	// Now is the clock for exp/nbf; default time.Now.
	Now func() time.Time
}

// BearerClaims is what we keep from a verified add-in token.
type BearerClaims struct {
	Issuer   string
	Subject  string
	ObjectID string
	TenantID string
	Email    string
	Name     string
	Scopes   []string
	MFA      bool
}

// Actor turns the claims into a service actor. The user ID is derived from
// (issuer, oid or sub) like browser sign-ins, never from the e-mail.
func (c *BearerClaims) Actor(internal backend.Domains, ip string) backend.Actor {
	subject := c.ObjectID
	if subject == "" {
		subject = c.Subject
	}
	a := backend.Actor{UserID: UserIDFor(c.Issuer, subject), Email: c.Email, Name: c.Name, MFA: c.MFA, IP: ip}
	if internal.Internal(c.Email) {
		a.Roles = []backend.Role{backend.RoleHost}
	}
	return a
}

// BearerVerifier checks add-in bearer tokens. Safe for concurrent use; the
// key set is fetched lazily and refreshed when an unknown kid appears.
type BearerVerifier struct {
	cfg BearerConfig
	v   *oidc.IDTokenVerifier
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// NewBearerVerifier builds a verifier. ctx scopes the key set's HTTP client
// (oidc.ClientContext) and must outlive the verifier.
func NewBearerVerifier(ctx context.Context, cfg BearerConfig) (*BearerVerifier, error) {
	if cfg.Issuer == "" || cfg.JWKSURL == "" || len(cfg.Audiences) == 0 {
		return nil, errors.New("auth: bearer verification needs an issuer, a JWKS URL and an audience")
	}
	if strings.Contains(cfg.Issuer, "{tenantid}") && len(cfg.Tenants) == 0 {
		// A multi-tenant issuer template with no tenant list would accept
		// tokens from every Entra tenant in the world.
		return nil, errors.New("auth: a {tenantid} issuer needs an explicit tenant list")
	}
	if cfg.Scope == "" {
		cfg.Scope = "access_as_user"
	}
	if len(cfg.MFAAMR) == 0 {
		cfg.MFAAMR = DefaultMFAAMR
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ks := oidc.NewRemoteKeySet(ctx, cfg.JWKSURL)
	// Issuer and audience are checked below: the issuer depends on tid and
	// there may be several audiences.
	v := oidc.NewVerifier("", ks, &oidc.Config{SkipClientIDCheck: true, SkipIssuerCheck: true, Now: cfg.Now, SupportedSigningAlgs: []string{oidc.RS256}})
	return &BearerVerifier{cfg: cfg, v: v}, nil
}

// ErrBadToken is returned (wrapped in a backend.Error with EUNAUTHORIZED)
// for every rejected token; the cause is kept for logs.
var ErrBadToken = errors.New("auth: bearer token rejected")

func rejected(format string, args ...any) error {
	return &backend.Error{Code: backend.EUNAUTHORIZED, Key: "addin.error.token", Err: fmt.Errorf("%w: "+format, append([]any{ErrBadToken}, args...)...)}
}

// Verify checks signature, expiry, issuer, tenant, audience and scope.
func (b *BearerVerifier) Verify(ctx context.Context, raw string) (*BearerClaims, error) {
	tok, err := b.v.Verify(ctx, raw)
	if err != nil {
		return nil, rejected("%v", err)
	}
	var cl struct {
		Tid               string   `json:"tid"`
		Oid               string   `json:"oid"`
		Scp               string   `json:"scp"`
		Email             string   `json:"email"`
		PreferredUsername string   `json:"preferred_username"`
		UPN               string   `json:"upn"`
		Name              string   `json:"name"`
		AMR               []string `json:"amr"`
	}
	if err := tok.Claims(&cl); err != nil {
		return nil, rejected("claims: %v", err)
	}
	want := b.cfg.Issuer
	if strings.Contains(want, "{tenantid}") {
		if !guidRE.MatchString(cl.Tid) {
			return nil, rejected("tid is not a GUID")
		}
		want = strings.ReplaceAll(want, "{tenantid}", cl.Tid)
	}
	if subtle.ConstantTimeCompare([]byte(tok.Issuer), []byte(want)) != 1 {
		return nil, rejected("issuer %q not accepted", tok.Issuer)
	}
	if len(b.cfg.Tenants) > 0 && !slices.ContainsFunc(b.cfg.Tenants, func(t string) bool { return strings.EqualFold(t, cl.Tid) }) {
		return nil, rejected("tenant %q not accepted", cl.Tid)
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(b.cfg.Audiences, a) }) {
		return nil, rejected("audience not accepted")
	}
	scopes := strings.Fields(cl.Scp)
	if !slices.Contains(scopes, b.cfg.Scope) {
		return nil, rejected("scope %s missing", b.cfg.Scope)
	}
	email := cl.Email
	for _, e := range []string{cl.PreferredUsername, cl.UPN} {
		if email == "" && strings.Contains(e, "@") {
			email = e
		}
	}
	c := &BearerClaims{Issuer: tok.Issuer, Subject: tok.Subject, ObjectID: cl.Oid, TenantID: cl.Tid, Email: strings.ToLower(email), Name: cl.Name, Scopes: scopes}
	for _, a := range cl.AMR {
		if slices.Contains(b.cfg.MFAAMR, a) {
			c.MFA = true
		}
	}
	return c, nil
}

// GoogleConfig configures verification of the system ID token Google sends
// with every request of an HTTP-runtime Workspace add-on.
type GoogleConfig struct {
	// Issuers accepted; default https://accounts.google.com and
	// accounts.google.com.
	Issuers []string
	// JWKSURL default https://www.googleapis.com/oauth2/v3/certs.
	JWKSURL string
	// ServiceAccount is the add-on's service account e-mail
	// (gcloud workspace-add-ons get-authorization → serviceAccountEmail).
	ServiceAccount string
	Now            func() time.Time
}

// GoogleVerifier checks Google system ID tokens.
type GoogleVerifier struct {
	cfg GoogleConfig
	v   *oidc.IDTokenVerifier
}

// NewGoogleVerifier builds the verifier; ctx as for NewBearerVerifier.
func NewGoogleVerifier(ctx context.Context, cfg GoogleConfig) (*GoogleVerifier, error) {
	if cfg.ServiceAccount == "" {
		return nil, errors.New("auth: google add-on verification needs the add-on service account e-mail")
	}
	if len(cfg.Issuers) == 0 {
		cfg.Issuers = []string{"https://accounts.google.com", "accounts.google.com"}
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ks := oidc.NewRemoteKeySet(ctx, cfg.JWKSURL)
	v := oidc.NewVerifier("", ks, &oidc.Config{SkipClientIDCheck: true, SkipIssuerCheck: true, Now: cfg.Now, SupportedSigningAlgs: []string{oidc.RS256}})
	return &GoogleVerifier{cfg: cfg, v: v}, nil
}

// VerifySystem checks that raw is a Google-signed ID token for audience
// (the exact endpoint URL Google called) issued to the add-on's service
// account with a verified e-mail.
func (g *GoogleVerifier) VerifySystem(ctx context.Context, raw, audience string) error {
	tok, err := g.v.Verify(ctx, raw)
	if err != nil {
		return rejected("%v", err)
	}
	if !slices.Contains(g.cfg.Issuers, tok.Issuer) {
		return rejected("issuer %q not accepted", tok.Issuer)
	}
	if !slices.Contains(tok.Audience, audience) {
		return rejected("audience not accepted")
	}
	var cl struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := tok.Claims(&cl); err != nil {
		return rejected("claims: %v", err)
	}
	if !cl.EmailVerified || subtle.ConstantTimeCompare([]byte(strings.ToLower(cl.Email)), []byte(strings.ToLower(g.cfg.ServiceAccount))) != 1 {
		return rejected("not the add-on service account")
	}
	return nil
}

// BearerToken extracts the token from an Authorization header value.
func BearerToken(header string) (string, bool) {
	const p = "Bearer "
	if len(header) <= len(p) || !strings.EqualFold(header[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(header[len(p):]), true
}

// UserIDFor derives the pseudonymous user ID from (issuer, subject) exactly
// as sqlite.UpsertUser does, so an add-in user and the same person signed in
// through the browser with the same issuer map to one user.
func UserIDFor(issuer, subject string) backend.UserID {
	h := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return backend.UserID("u_" + hex.EncodeToString(h[:12]))
}

// GoogleUser is the add-on user from the user ID token.
type GoogleUser struct {
	Issuer, Subject, Email string
}

// VerifyUser checks the user ID token of an add-on request (aud is the
// add-on's OAuth client ID) and returns who the user is.
func (g *GoogleVerifier) VerifyUser(ctx context.Context, raw, clientID string) (*GoogleUser, error) {
	if clientID == "" {
		return nil, rejected("no add-on OAuth client ID configured")
	}
	tok, err := g.v.Verify(ctx, raw)
	if err != nil {
		return nil, rejected("%v", err)
	}
	if !slices.Contains(g.cfg.Issuers, tok.Issuer) {
		return nil, rejected("issuer %q not accepted", tok.Issuer)
	}
	if !slices.Contains(tok.Audience, clientID) {
		return nil, rejected("audience not accepted")
	}
	var cl struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := tok.Claims(&cl); err != nil || cl.Email == "" || !cl.EmailVerified {
		return nil, rejected("no verified e-mail")
	}
	return &GoogleUser{Issuer: tok.Issuer, Subject: tok.Subject, Email: strings.ToLower(cl.Email)}, nil
}
