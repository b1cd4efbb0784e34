// Package authtest runs a real OpenID Connect issuer in-process for tests:
// discovery, JWKS, an authorization endpoint that approves at once, and a
// token endpoint that checks the PKCE verifier and client secret and returns
// RS256-signed ID tokens. Faults can be switched on to produce the tokens an
// attacker or a broken IdP would.
package authtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Faults make the issuer misbehave in one way each.
type Faults struct {
	WrongAudience bool
	WrongIssuer   bool
	Expired       bool
	WrongNonce    bool
	BadSignature  bool // signed with a key not in the JWKS
	NoIDToken     bool
}

// User is who the issuer signs in next.
type User struct {
	Subject string
	Email   string
	Name    string
	Groups  []string
	AMR     []string
	ACR     string
}

// Issuer is a running test identity provider.
type Issuer struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu     sync.Mutex
	key    *rsa.PrivateKey
	rogue  *rsa.PrivateKey
	next   User
	faults Faults
	codes  map[string]grant
	now    func() time.Time
	// Exchanges counts successful code exchanges.
	Exchanges int
}

type grant struct {
	nonce, challenge, redirect string
	user                       User
}

// New starts an issuer on 127.0.0.1.
func New() (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	rogue, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	is := &Issuer{ClientID: "motesvakt-test", ClientSecret: "s3cret-test", key: key, rogue: rogue, codes: map[string]grant{}, now: time.Now,
		next: User{Subject: "sub-anna", Email: "anna@kommun.se", Name: "Anna Andersson", AMR: []string{"pwd", "mfa"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("/keys", is.keys)
	mux.HandleFunc("/authorize", is.authorize)
	mux.HandleFunc("/token", is.token)
	is.Server = httptest.NewServer(mux)
	return is, nil
}

// SetUser chooses who signs in next.
func (is *Issuer) SetUser(u User) { is.mu.Lock(); is.next = u; is.mu.Unlock() }

// SetFaults chooses how the next tokens are broken.
func (is *Issuer) SetFaults(f Faults) { is.mu.Lock(); is.faults = f; is.mu.Unlock() }

// SetClock sets the issuer's clock for iat/exp.
func (is *Issuer) SetClock(now func() time.Time) { is.mu.Lock(); is.now = now; is.mu.Unlock() }

func (is *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                is.URL,
		"authorization_endpoint":                is.URL + "/authorize",
		"token_endpoint":                        is.URL + "/token",
		"jwks_uri":                              is.URL + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (is *Issuer) keys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &is.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

// authorize approves at once: it redirects back with a code, as an IdP does
// after the user signed in.
func (is *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != is.ClientID || q.Get("response_type") != "code" {
		http.Error(w, "bad client or response_type", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	is.mu.Lock()
	is.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), user: is.next}
	is.mu.Unlock()
	u, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := u.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != is.ClientID || secret != is.ClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]string{"error": "invalid_client"})
		return
	}
	is.mu.Lock()
	g, ok := is.codes[r.PostForm.Get("code")]
	delete(is.codes, r.PostForm.Get("code"))
	faults, now := is.faults, is.now()
	is.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !ok || g.redirect != r.PostForm.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"error": "invalid_grant"})
		return
	}
	claims := map[string]any{
		"iss": is.URL, "aud": is.ClientID, "sub": g.user.Subject, "email": g.user.Email, "email_verified": true,
		"name": g.user.Name, "nonce": g.nonce, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
	if g.user.Groups != nil {
		claims["groups"] = g.user.Groups
	}
	if g.user.AMR != nil {
		claims["amr"] = g.user.AMR
	}
	if g.user.ACR != "" {
		claims["acr"] = g.user.ACR
	}
	if faults.WrongAudience {
		claims["aud"] = "someone-else"
	}
	if faults.WrongIssuer {
		claims["iss"] = "https://evil.example"
	}
	if faults.Expired {
		claims["iat"], claims["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	}
	if faults.WrongNonce {
		claims["nonce"] = "replayed-nonce"
	}
	key := is.key
	if faults.BadSignature {
		key = is.rogue
	}
	raw, err := Sign(key, "k1", claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	is.mu.Lock()
	is.Exchanges++
	is.mu.Unlock()
	resp := map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": 300}
	if !faults.NoIDToken {
		resp["id_token"] = raw
	}
	writeJSON(w, resp)
}

// SignToken signs arbitrary claims with the issuer's key (for bearer-token
// tests of add-in endpoints).
func (is *Issuer) SignToken(claims map[string]any) (string, error) { return Sign(is.key, "k1", claims) }

// Sign makes a compact RS256 JWS of claims.
func Sign(key crypto.Signer, kid string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return obj.CompactSerialize()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
