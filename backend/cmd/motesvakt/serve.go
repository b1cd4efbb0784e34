package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/locales"
)

// app is everything a running service holds.
type app struct {
	cfg     Config
	log     *slog.Logger
	db      *sqlite.DB
	secret  []byte
	server  *mhttp.Server
	closers []func()
}

func (a *app) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// prepareData makes sure the data directory exists. The default ./data is
// created on first start; a directory whose parent is missing is a typo,
// reported instead of silently created.
func prepareData(dir string, create bool) error {
	st, err := os.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("data directory %s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if !create {
		return fmt.Errorf("data directory %s does not exist (start \"motesvakt serve --data %s\" once, or pass the right --data)", dir, dir)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if _, err := os.Stat(parent); err != nil {
		return fmt.Errorf("data directory %s cannot be created: its parent %s does not exist", dir, parent)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

// lockData takes an exclusive lock so two servers never share one data
// directory (the SFU port, retention and the outbox assume one owner).
func lockData(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "serve.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another motesvakt serve", dir)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// serverSecret returns the configured secret or the one kept in
// <data>/keys/server.key, generating it (0600) on first start.
func serverSecret(cfg Config) ([]byte, error) {
	if cfg.ServerSecret != "" {
		return []byte(cfg.ServerSecret), nil
	}
	dir := filepath.Join(cfg.Data, "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys directory: %w", err)
	}
	path := filepath.Join(dir, "server.key")
	if b, err := os.ReadFile(path); err == nil {
		st, _ := os.Stat(path)
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
		}
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("%s is not a 32-byte hex key", path)
		}
		return key, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write server key: %w", err)
	}
	return key, nil
}

// subkey derives an independent key for one purpose from the server secret.
func subkey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("motesvakt/" + purpose))
	return m.Sum(nil)
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := LoadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	addr, err := a.server.Listen()
	if err != nil {
		return err
	}
	a.log.Info("listening", "addr", addr.String(), "public_url", a.server.Config().PublicURL.String(), "demo_sign_in", a.server.DemoMode(), "data", cfg.Data)
	if a.server.DemoMode() {
		fmt.Fprintf(stderr, "\n  Mötesvakt is running at http://%s  (demo sign-in: http://%s/auth/demo)\n\n", addr, addr)
	}
	err = a.server.Serve(ctx, cfg.ShutdownGrace)
	a.log.Info("stopped")
	return err
}

// openApp wires the service: data directory, store, sign-in, HTTP edge.
func openApp(ctx context.Context, cfg Config, logw io.Writer) (*app, error) {
	a := &app{cfg: cfg, log: newLogger(logw, cfg.LogLevel)}
	if err := prepareData(cfg.Data, true); err != nil {
		return nil, err
	}
	unlock, err := lockData(cfg.Data)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, unlock)
	if a.secret, err = serverSecret(cfg); err != nil {
		a.Close()
		return nil, err
	}
	a.db, err = sqlite.Open(ctx, filepath.Join(cfg.Data, "motesvakt.db"), migrations()...)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.closers = append(a.closers, func() { a.db.Close() })

	public := cfg.PublicURL
	if public == "" {
		public = "http://" + cfg.Addr
	}
	pu, err := url.Parse(public)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		a.Close()
		return nil, fmt.Errorf("--public-url %q must be an absolute http(s) URL", cfg.PublicURL)
	}
	domains := backend.ParseDomains(cfg.InternalDomains)
	var oidc *auth.OIDC
	if cfg.OIDCIssuer != "" {
		oidc, err = auth.NewOIDC(ctx, auth.Config{
			Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
			RedirectURL: strings.TrimRight(pu.String(), "/") + "/auth/callback",
			RolesClaim:  cfg.OIDCRolesClaim, AdminRoles: splitList(cfg.OIDCAdminRoles), HostRoles: splitList(cfg.OIDCHostRoles),
			MFAACR: splitList(cfg.OIDCMFAACR), InternalDomains: domains,
		})
		if err != nil {
			a.Close()
			return nil, err
		}
	}
	opts, err := a.features(ctx, domains, pu)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.server, err = mhttp.New(mhttp.Config{
		Addr: cfg.Addr, PublicURL: pu, Lang: locales.Lang(cfg.Lang), Internal: domains, CSRFKey: subkey(a.secret, "csrf"),
	}, a.db, oidc, a.log, opts...)
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
