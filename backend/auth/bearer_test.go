package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/backend/auth/authtest"
)

const (
	tenant   = "0b6f1c1e-1111-4222-8333-944455556666"
	apiAppID = "5e1f2a3b-aaaa-4bbb-8ccc-ddddeeeeffff"
)

func TestBearerVerify(t *testing.T) {
	is, err := authtest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	now := time.Now()
	ctx := context.Background()
	v, err := auth.NewBearerVerifier(ctx, auth.BearerConfig{
		Issuer: is.URL + "/{tenantid}/v2.0", JWKSURL: is.URL + "/keys",
		Audiences: []string{apiAppID}, Tenants: []string{tenant}, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{
		"iss": is.URL + "/" + tenant + "/v2.0", "aud": apiAppID, "tid": tenant, "sub": "s1", "oid": "oid-anna",
		"scp": "User.Read access_as_user", "preferred_username": "Anna@Kommun.se", "name": "Anna", "amr": []string{"pwd", "mfa"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ver": "2.0",
	}
	rogue, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherTenant := "99999999-1111-4222-8333-944455556666"
	tests := []struct {
		name   string
		change map[string]any
		forged bool
		ok     bool
	}{
		{name: "good", ok: true},
		{name: "wrong audience", change: map[string]any{"aud": "api://other"}},
		{name: "wrong issuer", change: map[string]any{"iss": "https://evil.example/" + tenant + "/v2.0"}},
		{name: "issuer of other tenant", change: map[string]any{"iss": is.URL + "/" + otherTenant + "/v2.0"}},
		{name: "wrong tenant", change: map[string]any{"iss": is.URL + "/" + otherTenant + "/v2.0", "tid": otherTenant}},
		{name: "tid not a guid", change: map[string]any{"iss": is.URL + "/x/v2.0", "tid": "x"}},
		{name: "expired", change: map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}},
		{name: "missing scope", change: map[string]any{"scp": "User.Read"}},
		{name: "forged signature", forged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := maps.Clone(good)
			maps.Copy(claims, tt.change)
			var raw string
			if tt.forged {
				raw, err = authtest.Sign(rogue, "k1", claims)
			} else {
				raw, err = is.SignToken(claims)
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(ctx, raw)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got, want := c.Email, "anna@kommun.se"; got != want {
					t.Errorf("email = %q, want %q", got, want)
				}
				if !c.MFA {
					t.Error("MFA not derived from amr")
				}
				a := c.Actor(backend.ParseDomains("kommun.se"), "127.0.0.1")
				if !a.HasRole(backend.RoleHost) || a.UserID != auth.UserIDFor(c.Issuer, "oid-anna") {
					t.Errorf("actor = %+v", a)
				}
				return
			}
			if err == nil {
				t.Fatal("token accepted")
			}
			if got, want := backend.ErrorCode(err), backend.EUNAUTHORIZED; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
			if !errors.Is(err, auth.ErrBadToken) {
				t.Errorf("err %v does not wrap ErrBadToken", err)
			}
		})
	}
}

func TestBearerConfigNeedsTenants(t *testing.T) {
	_, err := auth.NewBearerVerifier(context.Background(), auth.BearerConfig{Issuer: "https://login.microsoftonline.com/{tenantid}/v2.0", JWKSURL: "https://x/keys", Audiences: []string{"a"}})
	if err == nil {
		t.Fatal("multi-tenant issuer without tenants accepted")
	}
}

func TestGoogleVerifySystem(t *testing.T) {
	is, err := authtest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	now := time.Now()
	ctx := context.Background()
	const sa = "service-123@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
	const endpoint = "https://motesvakt.kommun.se/addin/google/event-open"
	v, err := auth.NewGoogleVerifier(ctx, auth.GoogleConfig{Issuers: []string{is.URL}, JWKSURL: is.URL + "/keys", ServiceAccount: sa, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"iss": is.URL, "aud": endpoint, "sub": "1234", "email": sa, "email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	rogue, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name   string
		change map[string]any
		forged bool
		ok     bool
	}{
		{name: "good", ok: true},
		{name: "wrong audience", change: map[string]any{"aud": "https://motesvakt.kommun.se/addin/google/home"}},
		{name: "wrong issuer", change: map[string]any{"iss": "https://evil.example"}},
		{name: "expired", change: map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}},
		{name: "other service account", change: map[string]any{"email": "attacker@evil.iam.gserviceaccount.com"}},
		{name: "email not verified", change: map[string]any{"email_verified": false}},
		{name: "forged signature", forged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := maps.Clone(good)
			maps.Copy(claims, tt.change)
			var raw string
			if tt.forged {
				raw, err = authtest.Sign(rogue, "k1", claims)
			} else {
				raw, err = is.SignToken(claims)
			}
			if err != nil {
				t.Fatal(err)
			}
			err := v.VerifySystem(ctx, raw, endpoint)
			if got, want := err == nil, tt.ok; got != want {
				t.Fatalf("accepted = %v, want %v (err %v)", got, want, err)
			}
			if err != nil && backend.ErrorCode(err) != backend.EUNAUTHORIZED {
				t.Errorf("code = %q", backend.ErrorCode(err))
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	for _, tt := range []struct {
		in, tok string
		ok      bool
	}{{"Bearer abc", "abc", true}, {"bearer abc", "abc", true}, {"Basic abc", "", false}, {"Bearer ", "", false}, {"", "", false}} {
		tok, ok := auth.BearerToken(tt.in)
		if tok != tt.tok || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v", tt.in, tok, ok)
		}
	}
}
