package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Envelope is what a transport delivers: the stored message bytes and the
// recipient. Data contains the guest's code; transports never log it.
type Envelope struct {
	ID        DeliveryID
	To        string
	MessageID string
	Data      []byte
}

// Transport delivers one message. An error that wraps a *SendError with
// Permanent set stops retries; any other error is retried with backoff.
type Transport interface {
	Send(ctx context.Context, env Envelope) error
}

// SendError carries an SMTP reply so the worker can tell a recipient the
// server will never accept from a hiccup.
type SendError struct {
	Stage     string // "dial", "mail", "rcpt", "data"
	Code      int    // SMTP reply code, 0 if there was none
	Permanent bool
	Err       error
}

func (e *SendError) Error() string { return "smtp " + e.Stage + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// IsPermanent reports whether retrying err cannot help.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// StartTLS says what to do when the connection is not already TLS.
type StartTLS string

const (
	StartTLSRequired      StartTLS = "required"      // refuse to send without STARTTLS (default)
	StartTLSOpportunistic StartTLS = "opportunistic" // upgrade when offered
	StartTLSOff           StartTLS = "off"           // never upgrade: only for a relay on loopback
)

// SMTPConfig configures delivery through a submission server.
type SMTPConfig struct {
	Host string
	// Port defaults to 587, or 465 with ImplicitTLS.
	Port int
	// StartTLS defaults to required: codes must not cross a network in clear.
	StartTLS StartTLS
	// ImplicitTLS dials TLS directly (SMTPS, port 465); StartTLS is then moot.
	ImplicitTLS bool
	// Username and Password enable SMTP AUTH. The mechanism is the strongest
	// the server offers; PLAIN and LOGIN are used only over TLS (or to a
	// server on loopback).
	Username string
	Password string
	// From is the envelope sender (MAIL FROM), normally the From header's address.
	From string
	// Timeout bounds dialling and every command; default 30 s.
	Timeout time.Duration
	// HELO name; default is this host's name (go-mail uses os.Hostname).
	HELO string
	// TLSConfig overrides certificate checking (tests, private CAs). ServerName
	// defaults to Host.
	TLSConfig *tls.Config
}

// SMTP delivers through an SMTP submission server, one connection per message.
// Mail volume is a handful per meeting, so connection reuse is not worth the
// state it would add.
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP validates cfg.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: smtp host is required")
	}
	if cfg.From == "" || !strings.Contains(cfg.From, "@") {
		return nil, fmt.Errorf("mail: smtp from address %q is invalid", cfg.From)
	}
	switch cfg.StartTLS {
	case "":
		cfg.StartTLS = StartTLSRequired
	case StartTLSRequired, StartTLSOpportunistic, StartTLSOff:
	default:
		return nil, fmt.Errorf("mail: smtp starttls %q: want required, opportunistic or off", cfg.StartTLS)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.ImplicitTLS {
			cfg.Port = 465
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("mail: smtp password given without a username")
	}
	return &SMTP{cfg: cfg}, nil
}

func (s *SMTP) client() (*gomail.Client, error) {
	tlsConf := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	if s.cfg.TLSConfig != nil {
		tlsConf = s.cfg.TLSConfig.Clone()
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = s.cfg.Host
		}
	}
	policy := map[StartTLS]gomail.TLSPolicy{
		StartTLSRequired:      gomail.TLSMandatory,
		StartTLSOpportunistic: gomail.TLSOpportunistic,
		StartTLSOff:           gomail.NoTLS,
	}[s.cfg.StartTLS]
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(tlsConf),
	}
	if s.cfg.ImplicitTLS {
		opts = append(opts, gomail.WithSSL())
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	} else {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthNoAuth))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// Send dials, negotiates TLS and AUTH through go-mail, then submits the
// stored bytes unchanged.
func (s *SMTP) Send(ctx context.Context, env Envelope) error {
	c, err := s.client()
	if err != nil {
		return &SendError{Stage: "dial", Err: err}
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return classify("dial", err)
	}
	defer func() { _ = c.CloseWithSMTPClient(conn) }()
	if err := conn.Mail(s.cfg.From); err != nil {
		return classify("mail", err)
	}
	if err := conn.Rcpt(env.To); err != nil {
		se := classify("rcpt", err)
		// 5xx to RCPT TO: this address will never be accepted. Other 5xx
		// replies (AUTH, MAIL, DATA) usually mean configuration an admin can
		// fix, so they are retried like 4xx.
		se.Permanent = se.Code >= 500 && se.Code < 600
		return se
	}
	w, err := conn.Data()
	if err != nil {
		return classify("data", err)
	}
	if _, err := w.Write(env.Data); err != nil {
		_ = w.Close()
		return classify("data", err)
	}
	if err := w.Close(); err != nil {
		return classify("data", err)
	}
	return nil
}

func classify(stage string, err error) *SendError {
	se := &SendError{Stage: stage, Err: err}
	var te *textproto.Error
	if errors.As(err, &te) {
		se.Code = te.Code
	}
	return se
}

// FileOutbox writes each message as <dir>/<delivery id>.eml: the default
// when no SMTP server is configured, and how a developer reads guest mail.
// Files hold codes, so they are 0600 in a 0700 directory.
type FileOutbox struct {
	dir string
}

// NewFileOutbox creates dir (normally <data>/outbox) if needed.
func NewFileOutbox(dir string) (*FileOutbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: outbox dir %s: %w", dir, err)
	}
	return &FileOutbox{dir: dir}, nil
}

// Dir is where the files go.
func (f *FileOutbox) Dir() string { return f.dir }

// Send writes the message atomically: a temp file in the same directory,
// fsync, rename. A reader never sees half a message, and a retry after a crash
// overwrites the same file name instead of adding a second copy.
func (f *FileOutbox) Send(_ context.Context, env Envelope) error {
	if env.ID == "" || strings.ContainsAny(string(env.ID), `/\.`) {
		return fmt.Errorf("mail: outbox: bad delivery id %q", env.ID)
	}
	final := filepath.Join(f.dir, string(env.ID)+".eml")
	tmp, err := os.CreateTemp(f.dir, ".tmp-*.eml") // CreateTemp makes it 0600
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	if _, err := tmp.Write(env.Data); err != nil {
		return fmt.Errorf("mail: outbox: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("mail: outbox: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail: outbox: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("mail: outbox: rename: %w", err)
	}
	ok = true
	// Make the rename itself durable; best effort where directories cannot be synced.
	if d, err := os.Open(f.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

var _ Transport = (*SMTP)(nil)
var _ Transport = (*FileOutbox)(nil)
