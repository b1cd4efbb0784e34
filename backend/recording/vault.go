package recording

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	ProviderVault = "vault-transit"
	AlgVault      = "vault-transit"
)

// VaultTransit wraps DEKs with a HashiCorp Vault transit key over Vault's
// HTTP API (POST /v1/<mount>/encrypt/<key> and /decrypt/<key>). It uses a
// plain net/http client: two endpoints do not justify the Vault SDK's
// dependency tree. The KEK never leaves Vault; rotation is Vault's `rotate`
// plus `rewrap`, and each wrapped key records the version that wrapped it.
type VaultTransit struct {
	addr      *url.URL
	mount     string
	key       string
	token     string
	namespace string
	client    *http.Client
}

// VaultConfig configures VaultTransit. Token should come from a *_FILE
// setting, never a flag, so it stays out of process listings and logs.
type VaultConfig struct {
	Addr      string // e.g. https://vault.example:8200
	Mount     string // transit mount path, default "transit"
	Key       string // transit key name
	Token     string
	Namespace string       // optional X-Vault-Namespace (Vault Enterprise/HCP)
	Client    *http.Client // default: 10 s timeout
}

func NewVaultTransit(c VaultConfig) (*VaultTransit, error) {
	u, err := url.Parse(c.Addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("recording: vault address %q: want http(s)://host[:port]", c.Addr)
	}
	if c.Mount == "" {
		c.Mount = "transit"
	}
	c.Mount = strings.Trim(c.Mount, "/")
	if c.Key == "" || strings.ContainsAny(c.Key, "/?#") {
		return nil, fmt.Errorf("recording: vault transit key name %q is invalid", c.Key)
	}
	if c.Token == "" {
		return nil, errors.New("recording: vault token is empty")
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &VaultTransit{addr: u, mount: c.Mount, key: c.Key, token: c.Token, namespace: c.Namespace, client: c.Client}, nil
}

func (v *VaultTransit) keyID() string { return v.mount + "/" + v.key }

type vaultResponse struct {
	Data struct {
		Ciphertext string `json:"ciphertext"`
		Plaintext  string `json:"plaintext"`
		KeyVersion int    `json:"key_version"`
	} `json:"data"`
	Errors []string `json:"errors"`
}

// call POSTs body to /v1/<mount>/<op>/<key>. Transport failures, 5xx and 429
// are ErrProviderUnavailable (retry later, tell the host the key service is
// down); other statuses are configuration or integrity errors.
func (v *VaultTransit) call(ctx context.Context, op string, body map[string]string) (*vaultResponse, error) {
	buf, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	u := v.addr.JoinPath("v1", v.mount, op, v.key)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(buf))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", v.token)
	req.Header.Set("Content-Type", "application/json")
	if v.namespace != "" {
		req.Header.Set("X-Vault-Namespace", v.namespace)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("recording: vault %s: %w: %w", op, ErrProviderUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("recording: vault %s: %w: %w", op, ErrProviderUnavailable, err)
	}
	var out vaultResponse
	jerr := json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusOK {
		msg := strings.Join(out.Errors, "; ")
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, fmt.Errorf("recording: vault %s: status %d %s: %w", op, resp.StatusCode, msg, ErrProviderUnavailable)
		}
		if op == "decrypt" && resp.StatusCode == http.StatusBadRequest {
			// Vault answers 400 when the ciphertext or associated data does
			// not authenticate.
			return nil, fmt.Errorf("recording: vault decrypt: status 400 %s: %w", msg, ErrWrongKey)
		}
		return nil, fmt.Errorf("recording: vault %s: status %d %s", op, resp.StatusCode, msg)
	}
	if jerr != nil {
		return nil, fmt.Errorf("recording: vault %s: decode response: %w", op, jerr)
	}
	return &out, nil
}

func (v *VaultTransit) Wrap(ctx context.Context, dek []byte) (WrappedKey, error) {
	id, ok := RecordingIDFrom(ctx)
	if !ok {
		return WrappedKey{}, errors.New("recording: vault wrap: no recording id in context")
	}
	out, err := v.call(ctx, "encrypt", map[string]string{
		"plaintext":       base64.StdEncoding.EncodeToString(dek),
		"associated_data": base64.StdEncoding.EncodeToString(wrapAAD(id)),
	})
	if err != nil {
		return WrappedKey{}, err
	}
	ver, err := vaultVersion(out.Data.Ciphertext)
	if err != nil {
		return WrappedKey{}, err
	}
	return WrappedKey{Recording: id, Provider: ProviderVault, KeyID: v.keyID(), KeyVersion: ver, Alg: AlgVault,
		Ciphertext: []byte(out.Data.Ciphertext)}, nil
}

// vaultVersion reads N from Vault's "vault:vN:…" ciphertext prefix.
func vaultVersion(ct string) (int, error) {
	parts := strings.SplitN(ct, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" || !strings.HasPrefix(parts[1], "v") {
		return 0, errors.New("recording: vault returned a ciphertext without a vault:vN: prefix")
	}
	n, err := strconv.Atoi(parts[1][1:])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("recording: vault ciphertext version %q", parts[1])
	}
	return n, nil
}

func (v *VaultTransit) Unwrap(ctx context.Context, wk WrappedKey) ([]byte, error) {
	if wk.Provider != ProviderVault || wk.Alg != AlgVault {
		return nil, fmt.Errorf("recording: vault unwrap: key is %s/%s: %w", wk.Provider, wk.Alg, ErrWrongKey)
	}
	if wk.KeyID != v.keyID() {
		return nil, fmt.Errorf("recording: vault unwrap: wrapped by %s, configured %s: %w", wk.KeyID, v.keyID(), ErrWrongKey)
	}
	out, err := v.call(ctx, "decrypt", map[string]string{
		"ciphertext":      string(wk.Ciphertext),
		"associated_data": base64.StdEncoding.EncodeToString(wrapAAD(wk.Recording)),
	})
	if err != nil {
		return nil, err
	}
	dek, err := base64.StdEncoding.DecodeString(out.Data.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("recording: vault decrypt: plaintext is not base64: %w", err)
	}
	return dek, nil
}

// Check does an encrypt/decrypt round trip, which proves reachability, token
// validity and policy for both operations in one go.
func (v *VaultTransit) Check(ctx context.Context) error { return roundTrip(ctx, v) }
