package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDockerCompose keeps docker-compose.yml valid: `docker compose config`
// when the compose client is installed, and always a structural check that
// the service, its volume and ports are declared.
func TestDockerCompose(t *testing.T) {
	path := filepath.Join("..", "..", "..", "docker-compose.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(false)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := doc.Services["motesvakt"]
	if !ok || svc.Build == nil || len(svc.Volumes) == 0 || len(svc.Ports) < 2 {
		t.Fatalf("service motesvakt incomplete: %+v", svc)
	}
	if !strings.HasSuffix(svc.Volumes[0], ":/data") {
		t.Errorf("data volume %q not mounted at /data", svc.Volumes[0])
	}
	if _, ok := doc.Volumes["motesvakt-data"]; !ok {
		t.Error("named volume motesvakt-data not declared")
	}
	// Every environment key must be a real option, or the container fails.
	known := map[string]bool{"MOTESVAKT_CONFIG": true}
	c := DefaultConfig()
	for _, o := range c.options() {
		known[o.env()] = true
		if o.secret {
			known[o.env()+"_FILE"] = true
		}
	}
	for k := range svc.Environment {
		if !known[k] {
			t.Errorf("docker-compose.yml sets unknown variable %s", k)
		}
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		cmd := exec.Command("docker", "compose", "-f", path, "config", "-q")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker compose config: %v\n%s", err, out)
		}
	} else {
		t.Log("docker compose client not installed; structural check only")
	}
}
