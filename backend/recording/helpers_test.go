package recording

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func dsn(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)"
}

func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(Schema); err != nil {
		t.Fatalf("apply schema: %v", err)
	}
	return db
}

type env struct {
	db    *sql.DB
	store *Store
	keys  KeyProvider
	dir   string
	data  string
}

// newEnv makes a real SQLite file, a key file and a store under one temp dir.
func newEnv(t testing.TB, keys KeyProvider) *env {
	t.Helper()
	data := t.TempDir()
	if keys == nil {
		k, err := OpenLocalKeyFile(filepath.Join(data, "keys", "kek"))
		if err != nil {
			t.Fatal(err)
		}
		keys = k
	}
	db := openDB(t, filepath.Join(data, "motesvakt.db"))
	dir := filepath.Join(data, "recordings")
	s, err := NewStore(db, dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, store: s, keys: keys, dir: dir, data: data}
}

func (e *env) tx(t testing.TB, fn func(tx *sql.Tx) error) error {
	t.Helper()
	tx, err := e.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (e *env) create(t testing.TB, m Meta, now time.Time) *Writer {
	t.Helper()
	var w *Writer
	err := e.tx(t, func(tx *sql.Tx) error {
		var err error
		w, err = e.store.Create(context.Background(), tx, m, now)
		return err
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return w
}

func (e *env) finish(t testing.TB, w *Writer, now time.Time) (*Recording, error) {
	t.Helper()
	var r *Recording
	var ferr error
	err := e.tx(t, func(tx *sql.Tx) error {
		r, ferr = e.store.Finish(context.Background(), tx, w, now)
		return nil // commit the failed state too
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, ferr
}

func meta(id, track string) Meta {
	return Meta{ID: ID(id), MeetingID: "m1", Track: track, Kind: KindAudio, DeleteAfter: DeleteAfter(t0, 30)}
}

// fakeVault implements Vault transit's encrypt and decrypt endpoints with
// real AES-256-GCM, key versions and associated data, on loopback.
type fakeVault struct {
	*httptest.Server
	token string
	down  atomic.Bool // every endpoint answers 503
	// decryptDown makes only decrypt fail, to prove Create's test unwrap.
	decryptDown atomic.Bool
	mu          sync.Mutex
	keys        []cipher.AEAD // version i+1
	calls       atomic.Int64
}

func newFakeVault(t testing.TB) *fakeVault {
	t.Helper()
	v := &fakeVault{token: "s.test-token"}
	v.rotate()
	v.Server = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.Close)
	return v
}

func (v *fakeVault) rotate() {
	k := make([]byte, 32)
	rand.Read(k)
	b, _ := aes.NewCipher(k)
	a, _ := cipher.NewGCM(b)
	v.mu.Lock()
	v.keys = append(v.keys, a)
	v.mu.Unlock()
}

func vaultErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}

func (v *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	v.calls.Add(1)
	if v.down.Load() {
		vaultErr(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	if v.decryptDown.Load() && strings.HasPrefix(r.URL.Path, "/v1/transit/decrypt/") {
		vaultErr(w, http.StatusServiceUnavailable, "standby node, no active leader")
		return
	}
	if r.Header.Get("X-Vault-Token") != v.token {
		vaultErr(w, http.StatusForbidden, "permission denied")
		return
	}
	if r.Method != http.MethodPost {
		vaultErr(w, http.StatusMethodNotAllowed, "method")
		return
	}
	var body struct {
		Plaintext      string `json:"plaintext"`
		Ciphertext     string `json:"ciphertext"`
		AssociatedData string `json:"associated_data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		vaultErr(w, http.StatusBadRequest, "bad json")
		return
	}
	aad, err := base64.StdEncoding.DecodeString(body.AssociatedData)
	if err != nil {
		vaultErr(w, http.StatusBadRequest, "bad associated_data")
		return
	}
	v.mu.Lock()
	keys := v.keys
	v.mu.Unlock()
	reply := func(data map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}
	switch r.URL.Path {
	case "/v1/transit/encrypt/kek":
		pt, err := base64.StdEncoding.DecodeString(body.Plaintext)
		if err != nil {
			vaultErr(w, http.StatusBadRequest, "bad plaintext")
			return
		}
		ver := len(keys)
		a := keys[ver-1]
		nonce := make([]byte, a.NonceSize())
		rand.Read(nonce)
		ct := a.Seal(nonce, nonce, pt, aad)
		reply(map[string]any{"ciphertext": fmt.Sprintf("vault:v%d:%s", ver, base64.StdEncoding.EncodeToString(ct)), "key_version": ver})
	case "/v1/transit/decrypt/kek":
		ver, err := vaultVersion(body.Ciphertext)
		if err != nil || ver > len(keys) {
			vaultErr(w, http.StatusBadRequest, "invalid ciphertext: no such key version")
			return
		}
		raw, err := base64.StdEncoding.DecodeString(body.Ciphertext[strings.LastIndex(body.Ciphertext, ":")+1:])
		a := keys[ver-1]
		if err != nil || len(raw) < a.NonceSize() {
			vaultErr(w, http.StatusBadRequest, "invalid ciphertext")
			return
		}
		pt, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], aad)
		if err != nil {
			vaultErr(w, http.StatusBadRequest, "cipher: message authentication failed")
			return
		}
		reply(map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)})
	default:
		vaultErr(w, http.StatusNotFound, "no handler for route")
	}
}

func (v *fakeVault) provider(t testing.TB) *VaultTransit {
	t.Helper()
	p, err := NewVaultTransit(VaultConfig{Addr: v.URL, Mount: "transit", Key: "kek", Token: v.token})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPortAddr returns a loopback URL nothing listens on.
func closedPortAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
