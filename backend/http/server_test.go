package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/backend/auth/authtest"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

type testServer struct {
	*httptest.Server
	App    *mhttp.Server
	DB     *sqlite.DB
	Issuer *authtest.Issuer
	Logs   *strings.Builder
}

// newTestServer runs the real echo stack over loopback with a real SQLite
// file. With withOIDC it signs in against an in-process issuer.
func newTestServer(t *testing.T, withOIDC bool, opts ...mhttp.Option) *testServer {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ts := &testServer{DB: db, Logs: &strings.Builder{}}
	ts.Server = httptest.NewUnstartedServer(nil)
	public, _ := url.Parse("http://" + ts.Listener.Addr().String())
	var o *auth.OIDC
	domains := backend.ParseDomains("kommun.se")
	if withOIDC {
		is, err := authtest.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(is.Close)
		ts.Issuer = is
		o, err = auth.NewOIDC(ctx, auth.Config{Issuer: is.URL, ClientID: is.ClientID, ClientSecret: is.ClientSecret,
			RedirectURL: public.String() + "/auth/callback", AdminRoles: []string{"motesvakt-admin"}, InternalDomains: domains})
		if err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewJSONHandler(syncWriter{ts.Logs}, nil))
	app, err := mhttp.New(mhttp.Config{Addr: ts.Listener.Addr().String(), PublicURL: public, Internal: domains, CSRFKey: make([]byte, 32)}, db, o, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts.App = app
	ts.Config.Handler = app
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

type syncWriter struct{ b *strings.Builder }

func (w syncWriter) Write(p []byte) (int, error) { return w.b.Write(p) }

// client returns a browser-like client with a cookie jar that does not
// follow redirects to other hosts automatically.
func (ts *testServer) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func postJSON(t *testing.T, c *http.Client, u, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &m)
	return resp, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func TestHealthAndMetrics(t *testing.T) {
	ts := newTestServer(t, false)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(ts.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
	}
	resp, _ := http.Get(ts.URL + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `motesvakt_http_requests_total{code="200",method="GET",route="/healthz"} 1`) {
		t.Errorf("metrics lack the request counter:\n%.2000s", b)
	}
	t.Run("ReadyzFailsWhenStoreCloses", func(t *testing.T) {
		ts.DB.Close()
		resp, _ := http.Get(ts.URL + "/readyz")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", resp.StatusCode)
		}
	})
}

func TestErrorsAreLocalizedJSON(t *testing.T) {
	ts := newTestServer(t, false)
	tests := []struct {
		name, lang, want string
		status           int
	}{
		{"sv", "sv-SE", "Hittades inte.", 404},
		{"en", "en-GB,en;q=0.9", "Not found.", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/api/v1/nope", nil)
			req.Header.Set("Accept-Language", tt.lang)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != tt.status || errCode(m) != "not_found" || errMessage(m) != tt.want {
				t.Errorf("got %d %v", resp.StatusCode, m)
			}
		})
	}
	t.Run("TooLarge", func(t *testing.T) {
		resp, m := postJSON(t, http.DefaultClient, ts.URL+"/auth/demo", `{"email":"`+strings.Repeat("a", 2<<20)+`"}`)
		if resp.StatusCode != 413 || errCode(m) != "too_large" {
			t.Errorf("got %d %v", resp.StatusCode, m)
		}
	})
	t.Run("BadJSON", func(t *testing.T) {
		resp, m := postJSON(t, http.DefaultClient, ts.URL+"/auth/demo", `{"email":`, "Accept-Language", "en")
		if resp.StatusCode != 400 || errCode(m) != "invalid" || !strings.Contains(errMessage(m), "not valid JSON") {
			t.Errorf("got %d %v", resp.StatusCode, m)
		}
	})
}

func TestDemoSignIn(t *testing.T) {
	ts := newTestServer(t, false)
	t.Run("InternalAddressGetsSession", func(t *testing.T) {
		c := ts.client(t)
		resp, m := postJSON(t, c, ts.URL+"/auth/demo", `{"email":"Anna@Kommun.se","admin":true}`)
		if resp.StatusCode != 200 || m["email"] != "anna@kommun.se" {
			t.Fatalf("got %d %v", resp.StatusCode, m)
		}
		var ck *http.Cookie
		for _, x := range resp.Cookies() {
			if x.Name == "ms_session" {
				ck = x
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || len(ck.Value) < 40 {
			t.Fatalf("session cookie %+v", ck)
		}
		r2, _ := c.Get(ts.URL + "/api/v1/me")
		var me map[string]any
		json.NewDecoder(r2.Body).Decode(&me)
		roles, _ := me["roles"].([]any)
		if len(roles) != 2 || me["mfa"] != true {
			t.Errorf("me = %v", me)
		}
	})
	t.Run("FormPostRedirects", func(t *testing.T) {
		c := ts.client(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.PostForm(ts.URL+"/auth/demo", url.Values{"email": {"bo@kommun.se"}, "return_to": {"//evil.example/x"}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("got %d → %q (open redirect must be refused)", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("ExternalAddressRejected", func(t *testing.T) {
		for _, email := range []string{"eve@gmail.com", "eve@kommun.se.evil.com", "not-an-email", ""} {
			resp, m := postJSON(t, http.DefaultClient, ts.URL+"/auth/demo", `{"email":"`+email+`"}`)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || errMessage(m) == "" {
				t.Errorf("%q: got %d %v", email, resp.StatusCode, m)
			}
		}
	})
	t.Run("FormErrorRendersPageInSwedish", func(t *testing.T) {
		req, _ := http.NewRequest("POST", ts.URL+"/auth/demo", strings.NewReader("email=eve%40gmail.com"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		resp, _ := http.DefaultClient.Do(req)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || !strings.Contains(string(b), "tar bara emot adresser i de interna domänerna") || !strings.Contains(string(b), `value="eve@gmail.com"`) {
			t.Errorf("got %d %.500s", resp.StatusCode, b)
		}
	})
	t.Run("LoopbackOnly", func(t *testing.T) {
		for _, addr := range []string{"0.0.0.0:8080", "192.0.2.2:8080", ":8080", "[::]:8080"} {
			if err := auth.CheckDemoListen(addr); err == nil || !strings.Contains(err.Error(), "loopback") {
				t.Errorf("%s: err = %v", addr, err)
			}
		}
		for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080", "127.0.0.2:1"} {
			if err := auth.CheckDemoListen(addr); err != nil {
				t.Errorf("%s: %v", addr, err)
			}
		}
	})
}

func TestCSRF(t *testing.T) {
	ts := newTestServer(t, false)
	c := ts.client(t)
	postJSON(t, c, ts.URL+"/auth/demo", `{"email":"anna@kommun.se"}`)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// A form post riding on the cookie without the token is refused…
	resp, _ := c.PostForm(ts.URL+"/auth/logout", nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without token: %d, want 403", resp.StatusCode)
	}
	r, _ := c.Get(ts.URL + "/api/v1/me")
	if r.StatusCode != 200 {
		t.Fatal("session was ended by a forged post")
	}
	// …a text/plain post (the other "simple" CORS type) too.
	req, _ := http.NewRequest("POST", ts.URL+"/auth/logout", strings.NewReader("x"))
	req.Header.Set("Content-Type", "text/plain")
	resp, _ = c.Do(req)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("text/plain post: %d, want 403", resp.StatusCode)
	}
	// The page's own token works.
	page, _ := c.Get(ts.URL + "/")
	b, _ := io.ReadAll(page.Body)
	i := strings.Index(string(b), `name="csrf" value="`)
	if i < 0 {
		t.Fatal("no csrf field on page")
	}
	tok := string(b[i+len(`name="csrf" value="`):])
	tok = tok[:strings.IndexByte(tok, '"')]
	resp, _ = c.PostForm(ts.URL+"/auth/logout", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout with token: %d", resp.StatusCode)
	}
	r, _ = c.Get(ts.URL + "/api/v1/me")
	if r.StatusCode != 401 {
		t.Errorf("after logout /me = %d, want 401", r.StatusCode)
	}
}

// oidcLogin walks the real authorization-code flow: our /auth/login →
// the issuer's /authorize → our /auth/callback.
func oidcLogin(t *testing.T, ts *testServer, c *http.Client) *http.Response {
	t.Helper()
	resp, err := c.Get(ts.URL + "/auth/login?return_to=/meetings")
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestOIDC(t *testing.T) {
	ts := newTestServer(t, true)
	t.Run("HappyPath", func(t *testing.T) {
		ts.Issuer.SetUser(authtest.User{Subject: "s1", Email: "anna@kommun.se", Name: "Anna", Groups: []string{"motesvakt-admin"}, AMR: []string{"pwd", "mfa"}})
		c := ts.client(t)
		var last *http.Request
		c.CheckRedirect = func(r *http.Request, via []*http.Request) error { last = r; return nil }
		resp := oidcLogin(t, ts, c)
		if resp.StatusCode != 404 && resp.StatusCode != 200 { // /meetings may not exist yet
			t.Logf("landing status %d", resp.StatusCode)
		}
		if last == nil || last.URL.Path != "/meetings" {
			t.Fatalf("did not land on return_to: %v", last)
		}
		r, _ := c.Get(ts.URL + "/api/v1/me")
		var me map[string]any
		json.NewDecoder(r.Body).Decode(&me)
		if me["email"] != "anna@kommun.se" || me["mfa"] != true || me["demo"] != false {
			t.Errorf("me = %v", me)
		}
		if roles := me["roles"].([]any); len(roles) != 2 {
			t.Errorf("roles = %v, want admin+host", roles)
		}
		if strings.Contains(ts.Logs.String(), "code=") || strings.Contains(ts.Logs.String(), "state=") {
			t.Error("logs contain the callback query")
		}
	})
	t.Run("NoMFAWithoutAMR", func(t *testing.T) {
		ts.Issuer.SetUser(authtest.User{Subject: "s2", Email: "bo@kommun.se", AMR: []string{"pwd"}})
		c := ts.client(t)
		oidcLogin(t, ts, c)
		r, _ := c.Get(ts.URL + "/api/v1/me")
		var me map[string]any
		json.NewDecoder(r.Body).Decode(&me)
		if me["mfa"] != false {
			t.Errorf("me = %v", me)
		}
	})
	bad := []struct {
		name   string
		faults authtest.Faults
		key    string
	}{
		{"WrongAudience", authtest.Faults{WrongAudience: true}, "could not be verified"},
		{"WrongIssuer", authtest.Faults{WrongIssuer: true}, "could not be verified"},
		{"Expired", authtest.Faults{Expired: true}, "has expired"},
		{"WrongNonce", authtest.Faults{WrongNonce: true}, "does not belong to this sign-in"},
		{"BadSignature", authtest.Faults{BadSignature: true}, "could not be verified"},
		{"NoIDToken", authtest.Faults{NoIDToken: true}, "no ID token"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			ts.Issuer.SetFaults(tt.faults)
			defer ts.Issuer.SetFaults(authtest.Faults{})
			c := ts.client(t)
			req, _ := http.NewRequest("GET", ts.URL+"/auth/login", nil)
			req.Header.Set("Accept-Language", "en")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != 401 || !strings.Contains(errMessage(m), tt.key) {
				t.Errorf("got %d %v", resp.StatusCode, m)
			}
			r, _ := c.Get(ts.URL + "/api/v1/me")
			if r.StatusCode != 401 {
				t.Error("a session was created from a bad token")
			}
		})
	}
	t.Run("BadState", func(t *testing.T) {
		c := ts.client(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, _ := c.Get(ts.URL + "/auth/login")
		authURL := resp.Header.Get("Location")
		// The attacker's browser runs the IdP step, the victim gets the callback.
		r2, _ := c.Get(authURL)
		cb := r2.Header.Get("Location")
		victim := ts.client(t)
		req, _ := http.NewRequest("GET", cb, nil)
		req.Header.Set("Accept-Language", "en")
		r3, _ := victim.Do(req)
		var m map[string]any
		json.NewDecoder(r3.Body).Decode(&m)
		if r3.StatusCode != 400 || errCode(m) != "invalid" {
			t.Errorf("callback without the state cookie: %d %v", r3.StatusCode, m)
		}
		// Replaying the same callback in the right browser works once, not twice.
		r4, _ := c.Get(cb)
		if r4.StatusCode != http.StatusFound {
			t.Fatalf("first callback: %d", r4.StatusCode)
		}
		r5, _ := c.Get(cb)
		if r5.StatusCode != 400 {
			t.Errorf("replayed callback: %d, want 400", r5.StatusCode)
		}
	})
	t.Run("MalformedCallback", func(t *testing.T) {
		for _, q := range []string{"", "?state=x", "?code=x", "?error=access_denied&state=x", "?error=%3Cscript%3E"} {
			resp, err := http.Get(ts.URL + "/auth/callback" + q)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%q: %d", q, resp.StatusCode)
			}
			b, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(b), "<script>") {
				t.Errorf("%q reflected markup", q)
			}
		}
	})
	t.Run("DemoOffWithOIDC", func(t *testing.T) {
		resp, _ := postJSON(t, http.DefaultClient, ts.URL+"/auth/demo", `{"email":"anna@kommun.se"}`)
		if resp.StatusCode != 404 {
			t.Errorf("demo sign-in with OIDC configured: %d", resp.StatusCode)
		}
	})
}
