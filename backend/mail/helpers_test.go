package mail

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtpd "github.com/emersion/go-smtp"
	_ "modernc.org/sqlite"
)

// openDB opens (or reopens) the SQLite file at path the way the service
// does and applies Schema.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(Schema); err != nil {
		t.Fatalf("apply schema: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testKey(t *testing.T, secret string) []byte {
	t.Helper()
	k, err := DeriveKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clock is a controllable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// lockedBuffer collects log output from the worker.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newLogger(buf *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// received is one message the test SMTP server accepted.
type received struct {
	From, To string
	Data     []byte
	TLS      bool
	User     string
}

// smtpServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 with
// STARTTLS on a self-signed certificate and AUTH PLAIN.
type smtpServer struct {
	Addr  string
	Host  string
	Port  int
	Roots *x509.CertPool

	mu   sync.Mutex
	got  []received
	fail func(stage string) error // returns an *smtpd.SMTPError to refuse
}

const (
	smtpUser = "motesvakt"
	smtpPass = "hemligt-lösenord"
)

func startSMTP(t *testing.T) *smtpServer { return startSMTPServer(t, true) }

// startSMTPServer with withTLS false offers no STARTTLS (a misconfigured relay).
func startSMTPServer(t *testing.T, withTLS bool) *smtpServer {
	t.Helper()
	cert, roots := selfSigned(t)
	srv := &smtpServer{Roots: roots}
	s := smtpd.NewServer(smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &session{srv: srv, conn: c}, nil
	}))
	s.Domain = "localhost"
	if withTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	s.AllowInsecureAuth = false // the server itself refuses AUTH before STARTTLS
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 1 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	srv.Addr = l.Addr().String()
	srv.Host = "127.0.0.1"
	srv.Port = l.Addr().(*net.TCPAddr).Port
	return srv
}

func (s *smtpServer) setFail(f func(stage string) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *smtpServer) check(stage string) error {
	s.mu.Lock()
	f := s.fail
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(stage)
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// config returns the SMTPConfig a deployment would use for this server.
func (s *smtpServer) config() SMTPConfig {
	return SMTPConfig{
		Host: s.Host, Port: s.Port, StartTLS: StartTLSRequired,
		Username: smtpUser, Password: smtpPass, From: "noreply@kommun.example",
		Timeout:   5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: s.Roots, MinVersion: tls.VersionTLS12},
	}
}

type session struct {
	srv  *smtpServer
	conn *smtpd.Conn
	user string
	from string
	to   string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != smtpUser || password != smtpPass {
			return smtpd.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtpd.MailOptions) error {
	if s.user == "" {
		return smtpd.ErrAuthRequired
	}
	if err := s.srv.check("mail"); err != nil {
		return err
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtpd.RcptOptions) error {
	if err := s.srv.check("rcpt"); err != nil {
		return err
	}
	s.to = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.srv.check("data"); err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.got = append(s.srv.got, received{From: s.from, To: s.to, Data: b, TLS: isTLS, User: s.user})
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", "" }
func (s *session) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// smtpErr builds the reply a refusing server sends.
func smtpErr(code int, msg string) error {
	return &smtpd.SMTPError{Code: code, EnhancedCode: smtpd.EnhancedCode{code / 100, 0, 0}, Message: msg}
}

// assertNoSecretOnDisk greps the SQLite file and its WAL for each secret.
func assertNoSecretOnDisk(t *testing.T, dbPath string, secrets ...string) {
	t.Helper()
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(bytes.ToUpper(b), bytes.ToUpper([]byte(s))) {
				t.Errorf("%s contains the secret %q", filepath.Base(p), s)
			}
		}
	}
}
