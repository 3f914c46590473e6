package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// provider is a MetadataProvider that answers with a fixed error, or fills
// the name when err is nil.
type provider struct {
	err   error
	calls int
}

func (p *provider) Enrich(_ context.Context, c *event.Container) error {
	p.calls++
	if p.err == nil {
		c.Name = "web"
	}
	return p.err
}

func TestResolverCountsProviderFailuresButNotUnknownContainers(t *testing.T) {
	root := t.TempDir()
	id := strings.Repeat("ab", 32)
	for path, text := range map[string]string{
		"self/mountinfo": "",
		"42/cgroup":      "0::/docker/" + id + "\n",
	} {
		path = filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	notMine := &provider{err: fmt.Errorf("runtime x: %w", ErrNotFound)}
	broken := &provider{err: errors.New("connection refused")}
	filler := &provider{}
	r, err := NewResolver(Config{ProcRoot: root, Metadata: []MetadataProvider{notMine, broken, filler}})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := r.Lookup(42, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c == nil || c.ID != id[:12] || c.Name != "web" {
		t.Fatalf("container = %+v", c)
	}
	if notMine.calls != 1 || broken.calls != 1 || filler.calls != 1 {
		t.Errorf("calls = %d %d %d, want each provider asked once", notMine.calls, broken.calls, filler.calls)
	}
	if got := r.Stats().MetadataErrors; got != 1 {
		t.Errorf("MetadataErrors = %d, want 1 (the refused connection, not the unknown container)", got)
	}
}
