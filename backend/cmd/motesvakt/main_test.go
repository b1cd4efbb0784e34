package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("from-file\n"), 0o600)
	os.WriteFile(file, []byte("addr: 127.0.0.1:1111\nlang: en\ninternal_domains: a.se\nsmtp_port: 2525\noidc_client_secret_file: "+secret+"\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(Config) string
	}{
		{"Defaults", nil, nil, func(c Config) string { return c.Addr + " " + c.Lang + " " + c.Data }},
		{"File", []string{"--config", file}, nil, func(c Config) string {
			return c.Addr + " " + c.Lang + " " + c.OIDCClientSecret + " " + fmt.Sprint(c.SMTPPort)
		}},
		{"EnvBeatsFile", []string{"--config", file}, map[string]string{"MOTESVAKT_ADDR": "127.0.0.1:2222"}, func(c Config) string { return c.Addr + " " + c.Lang }},
		{"FlagBeatsEnv", []string{"--config", file, "--addr", "127.0.0.1:3333"}, map[string]string{"MOTESVAKT_ADDR": "127.0.0.1:2222"}, func(c Config) string { return c.Addr }},
		{"SecretFileEnv", nil, map[string]string{"MOTESVAKT_SMTP_PASSWORD_FILE": secret}, func(c Config) string { return c.SMTPPassword }},
		{"SecretFileFlag", []string{"--oidc-client-secret-file", secret}, nil, func(c Config) string { return c.OIDCClientSecret }},
		{"ConfigFromEnv", nil, map[string]string{"MOTESVAKT_CONFIG": file}, func(c Config) string { return c.Addr }},
	}
	wants := []string{"127.0.0.1:8080 sv ./data", "127.0.0.1:1111 en from-file 2525", "127.0.0.1:2222 en", "127.0.0.1:3333", "from-file", "from-file", "127.0.0.1:1111"}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			c, err := LoadConfig(fs, tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.want(c); got != wants[i] {
				t.Errorf("got %q, want %q", got, wants[i])
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "u.yaml")
	os.WriteFile(unknown, []byte("addr: 127.0.0.1:1\nrequire_host_mfa: true\noidc_isuer: https://typo\n"), 0o600)
	bad := filepath.Join(dir, "b.yaml")
	os.WriteFile(bad, []byte("addr: [unclosed\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"UnknownKey", []string{"--config", unknown}, nil, `line 3: unknown key "oidc_isuer"`},
		{"BadYAML", []string{"--config", bad}, nil, "config file"},
		{"MissingFile", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "no such file"},
		{"BadLang", []string{"--lang", "de"}, nil, "--lang must be sv or en"},
		{"BadNumber", nil, map[string]string{"MOTESVAKT_SFU_UDP_PORT": "lots"}, "MOTESVAKT_SFU_UDP_PORT"},
		{"ShortSecret", []string{"--server-secret", "short"}, nil, "at least 32 bytes"},
		{"IssuerNeedsClient", []string{"--oidc-issuer", "https://idp"}, nil, "--oidc-client-id"},
		{"MissingSecretFile", []string{"--smtp-password-file", "/nonexistent/x"}, nil, "read secret file"},
		{"UnknownFlag", []string{"--frobnicate"}, nil, "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			_, err := LoadConfig(fs, tt.args, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"NoArgs", nil, 2, "Usage"},
		{"Unknown", []string{"frob"}, 2, `unknown command "frob"`},
		{"MissingDataParent", []string{"serve", "--data", filepath.Join(dir, "a", "b")}, 1, "parent"},
		{"DemoOnNetwork", []string{"serve", "--data", filepath.Join(dir, "d1"), "--addr", "0.0.0.0:0"}, 1, "loopback"},
		{"UnknownConfigKey", []string{"serve", "--config", writeFile(t, dir, "x.yaml", "colour: red\n")}, 1, "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &out, &errb, env(nil))
			if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Errorf("code %d, output %q; want %d and %q", code, out.String()+errb.String(), tt.code, tt.want)
			}
		})
	}
	t.Run("Version", func(t *testing.T) {
		var out bytes.Buffer
		if code := run(context.Background(), []string{"version"}, nil, &out, io.Discard, env(nil)); code != 0 || !strings.HasPrefix(out.String(), "motesvakt ") {
			t.Errorf("%d %q", code, out.String())
		}
	})
	t.Run("SecondServerOnSameData", func(t *testing.T) {
		data := filepath.Join(dir, "shared")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addr := freeAddr(t)
		done := make(chan int)
		go func() {
			done <- run(ctx, []string{"serve", "--data", data, "--addr", addr}, nil, io.Discard, io.Discard, env(nil))
		}()
		waitHTTP(t, "http://"+addr+"/healthz")
		var errb bytes.Buffer
		code := run(context.Background(), []string{"serve", "--data", data, "--addr", freeAddr(t)}, nil, io.Discard, &errb, env(nil))
		if code != 1 || !strings.Contains(errb.String(), "in use by another motesvakt") {
			t.Errorf("second server: %d %q", code, errb.String())
		}
		cancel()
		<-done
	})
}

func writeFile(t *testing.T, dir, name, body string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHTTP(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(u); err == nil && r.StatusCode == 200 {
			r.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", u)
}

// TestGracefulShutdown: cancelling the context (what SIGINT/SIGTERM do) lets
// an in-flight request finish and stops the server well within 10 s.
func TestGracefulShutdown(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", data, "--addr", addr, "--shutdown-grace", "5s"}, nil, io.Discard, &logs, env(nil))
	}()
	waitHTTP(t, "http://"+addr+"/readyz")
	if st, err := os.Stat(filepath.Join(data, "keys", "server.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("server key: %v %v", st, err)
	}
	// A request whose handler is still reading its body when the signal
	// comes: Shutdown must wait for it to finish.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"email":"anna@example.se"}`
	fmt.Fprintf(conn, "POST /auth/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cancel()
	time.Sleep(200 * time.Millisecond)
	fmt.Fprint(conn, body[5:])
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(buf)
	if !strings.Contains(string(buf[:n]), "200 OK") {
		t.Errorf("in-flight request got %q", buf[:n])
	}
	conn.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, logs.String())
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("shutdown took %v", d)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("server did not stop within 10 s")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no stop log: %s", logs.String())
	}
}
