package image

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nightjar-sec/nightjar/daemon/config"
)

// imageConfig is the configuration the image carries.
func imageConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The configuration baked into the image is one the daemon accepts, and
// sends alerts where the deployments' log routers listen.
func TestImageConfigLoads(t *testing.T) {
	cfg, err := config.Parse([]byte(imageConfig(t)), ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Forward.Enabled || cfg.Forward.Network != "unix" || cfg.Forward.Target != SocketDir+"/fluent.sock" {
		t.Errorf("forward output %+v", cfg.Forward)
	}
	if !cfg.Metrics.Enabled {
		t.Errorf("metrics %+v", cfg.Metrics)
	}
}

// The file system daemon/Dockerfile copies is the archive's layer.
func TestWriteRootfs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "nightjar")
	if err := os.WriteFile(bin, []byte("\x7fELF binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteRootfs(dir, Options{Binary: bin, Config: imageConfig(t)}); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{
		BinaryPath: 0o755, ConfigPath: 0o644, "/etc/passwd": 0o644,
		"/tmp": os.ModeDir | os.ModeSticky | 0o777, SocketDir: os.ModeDir | 0o750,
	} {
		fi, err := os.Stat(filepath.Join(dir, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ConfigPath)); string(b) != imageConfig(t) {
		t.Errorf("config = %q", b)
	}
}
