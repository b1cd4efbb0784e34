package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is every setting of the binary. Precedence: flags, then MOTESVAKT_*
// environment variables, then the YAML file (--config), then defaults.
// Secrets may come from a file named by the *_FILE variant so they never sit
// in the environment or a process listing.
type Config struct {
	Addr            string
	Data            string
	ConfigFile      string
	InternalDomains string
	PublicURL       string
	Lang            string
	LogLevel        string

	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	OIDCRolesClaim   string
	OIDCAdminRoles   string
	OIDCHostRoles    string
	OIDCMFAACR       string

	ServerSecret string

	SFUUDPPort    int
	SFUPublicIPs  string
	SFUICETCPPort int

	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword string
	SMTPFrom     string
	SMTPTLS      string

	VaultAddr       string
	VaultToken      string
	VaultTransit    string
	RequireHostMFA  bool
	KeepDrafts      time.Duration
	TwoHostApproval bool
	LinkRotateEvery time.Duration

	ShutdownGrace time.Duration

	AddinOutlookID       string
	EntraAppID           string
	EntraAppIDURI        string
	EntraIssuer          string
	EntraJWKSURL         string
	EntraTenants         string
	GoogleServiceAccount string
	GoogleOAuthClientID  string
	GoogleJWKSURL        string
	GraphAuthority       string
	GraphTenantID        string
	GraphClientID        string
	GraphClientSecret    string
	GraphMailboxes       string
	GoogleSyncKeyFile    string
	GoogleSyncCalendars  string
}

// option describes one setting in all three sources.
type option struct {
	name    string // flag name; env is MOTESVAKT_<NAME>, YAML key is name with _ for -
	help    string
	secret  bool // has a *_FILE variant and is never printed
	str     *string
	num     *int
	boolean *bool
	dur     *time.Duration
}

func (o option) env() string {
	return "MOTESVAKT_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

func (o option) yamlKey() string { return strings.ReplaceAll(o.name, "-", "_") }

func (c *Config) options() []option {
	return []option{
		{name: "addr", help: "listen address (loopback only in demo mode)", str: &c.Addr},
		{name: "data", help: "data directory: database, keys, recordings, outbox", str: &c.Data},
		{name: "internal-domains", help: "comma list of the organisation's e-mail domains (subdomains count)", str: &c.InternalDomains},
		{name: "public-url", help: "external base URL for links in mail and add-ins (default http://<addr>)", str: &c.PublicURL},
		{name: "lang", help: "default language: sv or en", str: &c.Lang},
		{name: "log-level", help: "debug, info, warn or error", str: &c.LogLevel},
		{name: "oidc-issuer", help: "OpenID Connect issuer URL; empty enables the loopback-only demo sign-in", str: &c.OIDCIssuer},
		{name: "oidc-client-id", help: "OIDC client id", str: &c.OIDCClientID},
		{name: "oidc-client-secret", help: "OIDC client secret", secret: true, str: &c.OIDCClientSecret},
		{name: "oidc-roles-claim", help: "ID-token claim with group/role names", str: &c.OIDCRolesClaim},
		{name: "oidc-admin-roles", help: "comma list of claim values that make an admin", str: &c.OIDCAdminRoles},
		{name: "oidc-host-roles", help: "comma list of claim values that may host; empty: every internal user", str: &c.OIDCHostRoles},
		{name: "oidc-mfa-acr", help: "comma list of acr values that count as MFA (amr values per RFC 8176 always do)", str: &c.OIDCMFAACR},
		{name: "server-secret", help: "32+ byte secret for guest-code HMACs and CSRF; default: generated in <data>/keys/server.key", secret: true, str: &c.ServerSecret},
		{name: "require-host-mfa", help: "require MFA for everyone who provisions meetings", boolean: &c.RequireHostMFA},
		{name: "two-host-approval", help: "protected meetings need two hosts to admit an external participant", boolean: &c.TwoHostApproval},
		{name: "link-rotate-every", help: "recurring meetings get a new join link this often (and whenever invitees change); 0 = only on invitee changes", dur: &c.LinkRotateEvery},
		{name: "keep-drafts", help: "how long classified drafts are kept for admins' dry runs; 0 keeps none", dur: &c.KeepDrafts},
		{name: "sfu-udp-port", help: "the one UDP port for all media (ICE UDP mux)", num: &c.SFUUDPPort},
		{name: "sfu-public-ips", help: "comma list of public IPs to announce when behind NAT", str: &c.SFUPublicIPs},
		{name: "sfu-ice-tcp-port", help: "ICE-TCP port for clients that cannot use UDP (0 = off)", num: &c.SFUICETCPPort},
		{name: "smtp-host", help: "SMTP server; empty writes .eml files to <data>/outbox/", str: &c.SMTPHost},
		{name: "smtp-port", help: "SMTP port", num: &c.SMTPPort},
		{name: "smtp-username", help: "SMTP user", str: &c.SMTPUsername},
		{name: "smtp-password", help: "SMTP password", secret: true, str: &c.SMTPPassword},
		{name: "smtp-from", help: "sender address of guest mail", str: &c.SMTPFrom},
		{name: "smtp-tls", help: "starttls (required), opportunistic, implicit or off", str: &c.SMTPTLS},
		{name: "vault-addr", help: "HashiCorp Vault address for recording key wrapping; empty uses <data>/keys/kek", str: &c.VaultAddr},
		{name: "vault-token", help: "Vault token", secret: true, str: &c.VaultToken},
		{name: "vault-transit-key", help: "Vault transit key name (mount/key)", str: &c.VaultTransit},
		{name: "shutdown-grace", help: "how long a graceful shutdown may take", dur: &c.ShutdownGrace},
		{name: "addin-outlook-id", help: "the Outlook add-in's manifest id (GUID)", str: &c.AddinOutlookID},
		{name: "entra-app-id", help: "Entra ID app (client) id whose tokens the Outlook add-in sends; empty disables add-in bearer tokens", str: &c.EntraAppID},
		{name: "entra-app-id-uri", help: "the app's Application ID URI (api://host/client-id), accepted as audience too", str: &c.EntraAppIDURI},
		{name: "entra-issuer", help: "accepted token issuer; {tenantid} is replaced by the token's tid", str: &c.EntraIssuer},
		{name: "entra-jwks-url", help: "Entra ID signing keys", str: &c.EntraJWKSURL},
		{name: "entra-tenants", help: "comma list of accepted tenant ids", str: &c.EntraTenants},
		{name: "google-service-account", help: "the Workspace add-on's service account e-mail (gcloud workspace-add-ons get-authorization); empty disables the add-on endpoints", str: &c.GoogleServiceAccount},
		{name: "google-oauth-client-id", help: "the add-on's OAuth client id (audience of user ID tokens)", str: &c.GoogleOAuthClientID},
		{name: "google-jwks-url", help: "Google signing keys", str: &c.GoogleJWKSURL},
		{name: "graph-authority", help: "Entra ID authority for Graph app tokens", str: &c.GraphAuthority},
		{name: "graph-tenant-id", help: "tenant for server-side Outlook sync; empty disables Graph sync", str: &c.GraphTenantID},
		{name: "graph-client-id", help: "app registration with Calendars.ReadWrite (application)", str: &c.GraphClientID},
		{name: "graph-client-secret", help: "its client secret", secret: true, str: &c.GraphClientSecret},
		{name: "graph-mailboxes", help: "comma list of mailboxes (UPN) whose calendars are watched", str: &c.GraphMailboxes},
		{name: "google-sync-key-file", help: "service-account key (JSON) with domain-wide delegation for Google Calendar sync; empty disables it", str: &c.GoogleSyncKeyFile},
		{name: "google-sync-calendars", help: "comma list of calendars (user e-mails) to watch", str: &c.GoogleSyncCalendars},
	}
}

// DefaultConfig is the embedded default: loopback, ./data, Swedish.
func DefaultConfig() Config {
	return Config{
		Addr: "127.0.0.1:8080", Data: "./data", InternalDomains: "example.se", Lang: "sv", LogLevel: "info",
		OIDCRolesClaim: "groups", OIDCAdminRoles: "motesvakt-admin",
		SFUUDPPort: 50000, SMTPPort: 587, SMTPFrom: "motesvakt@example.se", SMTPTLS: "starttls",
		VaultTransit: "transit/motesvakt", ShutdownGrace: 10 * time.Second, KeepDrafts: 30 * 24 * time.Hour,
		AddinOutlookID: DefaultOutlookAddinID, LinkRotateEvery: 7 * 24 * time.Hour,
		EntraIssuer:    "https://login.microsoftonline.com/{tenantid}/v2.0",
		EntraJWKSURL:   "https://login.microsoftonline.com/common/discovery/v2.0/keys",
		GoogleJWKSURL:  "https://www.googleapis.com/oauth2/v3/certs",
		GraphAuthority: "https://login.microsoftonline.com",
	}
}

// LoadConfig parses args for one subcommand: it registers every option on
// fs (so each subcommand accepts the same --data and --config), then layers
// file, environment and flags.
func LoadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	opts := c.options()
	fs.StringVar(&c.ConfigFile, "config", getenv("MOTESVAKT_CONFIG"), "YAML configuration file (unknown keys are rejected)")
	flagVals := map[string]*string{}
	for _, o := range opts {
		v := new(string)
		flagVals[o.name] = v
		fs.StringVar(v, o.name, "", o.help+defaultHint(o))
		if o.secret {
			fv := new(string)
			fs.StringVar(fv, o.name+"-file", "", "read "+o.name+" from this file")
			flagVals[o.name+"-file"] = fv
		}
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.ConfigFile != "" {
		if err := c.loadYAML(c.ConfigFile, opts); err != nil {
			return c, err
		}
	}
	for _, o := range opts {
		if v := getenv(o.env()); v != "" {
			if err := o.set(v, "environment "+o.env()); err != nil {
				return c, err
			}
		}
		if o.secret {
			if path := getenv(o.env() + "_FILE"); path != "" {
				if err := o.setFromFile(path); err != nil {
					return c, err
				}
			}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, o := range opts {
		if set[o.name] {
			if err := o.set(*flagVals[o.name], "flag --"+o.name); err != nil {
				return c, err
			}
		}
		if o.secret && set[o.name+"-file"] {
			if err := o.setFromFile(*flagVals[o.name+"-file"]); err != nil {
				return c, err
			}
		}
	}
	return c, c.validate()
}

func defaultHint(o option) string {
	switch {
	case o.str != nil && *o.str != "" && !o.secret:
		return " (default " + *o.str + ")"
	case o.num != nil && *o.num != 0:
		return " (default " + strconv.Itoa(*o.num) + ")"
	case o.dur != nil && *o.dur != 0:
		return " (default " + o.dur.String() + ")"
	}
	return ""
}

func (o option) set(v, source string) error {
	switch {
	case o.str != nil:
		*o.str = v
	case o.num != nil:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a number", source, v)
		}
		*o.num = n
	case o.boolean != nil:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not true or false", source, v)
		}
		*o.boolean = b
	case o.dur != nil:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration (e.g. 10s)", source, v)
		}
		*o.dur = d
	}
	return nil
}

func (o option) setFromFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: read secret file: %w", o.name, err)
	}
	*o.str = strings.TrimRight(string(b), "\r\n")
	return nil
}

// loadYAML applies a YAML file; unknown keys are an error, so a typo never
// silently leaves a security setting at its default.
func (c *Config) loadYAML(path string, opts []option) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var raw map[string]yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	known := map[string]option{}
	for _, o := range opts {
		known[o.yamlKey()] = o
		if o.secret {
			known[o.yamlKey()+"_file"] = option{name: o.name + "-file", str: new(string)}
		}
	}
	for k, node := range raw {
		o, ok := known[k]
		if !ok {
			return fmt.Errorf("config file %s: line %d: unknown key %q", path, node.Line, k)
		}
		var v string
		if err := node.Decode(&v); err != nil {
			return fmt.Errorf("config file %s: line %d: %s: %w", path, node.Line, k, err)
		}
		if strings.HasSuffix(k, "_file") {
			target := known[strings.TrimSuffix(k, "_file")]
			if err := target.setFromFile(v); err != nil {
				return err
			}
			continue
		}
		if err := o.set(v, "config file key "+k); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) validate() error {
	if c.Lang != "sv" && c.Lang != "en" {
		return fmt.Errorf("--lang must be sv or en, not %q", c.Lang)
	}
	if c.Addr == "" {
		return errors.New("--addr must not be empty")
	}
	if c.Data == "" {
		return errors.New("--data must not be empty")
	}
	if c.OIDCIssuer != "" && c.OIDCClientID == "" {
		return errors.New("--oidc-issuer needs --oidc-client-id")
	}
	if c.ServerSecret != "" && len(c.ServerSecret) < 32 {
		return errors.New("--server-secret must be at least 32 bytes")
	}
	switch c.SMTPTLS {
	case "starttls", "opportunistic", "implicit", "off":
	default:
		return fmt.Errorf("--smtp-tls must be starttls, opportunistic, implicit or off, not %q", c.SMTPTLS)
	}
	if c.GraphTenantID != "" && (c.GraphClientID == "" || c.GraphClientSecret == "") {
		return errors.New("--graph-tenant-id needs --graph-client-id and --graph-client-secret(-file)")
	}
	if c.SFUUDPPort < 0 || c.SFUUDPPort > 65535 {
		return fmt.Errorf("--sfu-udp-port %d is out of range", c.SFUUDPPort)
	}
	return nil
}
