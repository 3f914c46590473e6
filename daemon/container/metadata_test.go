package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	r, err := NewResolver(Config{ProcRoot: root, Metadata: []MetadataProvider{notMine, broken, filler}, MetadataWait: time.Minute})
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

// hung is a provider whose calls return only when release is closed, or
// with the context's error when the resolver gives up on them.
type hung struct {
	release chan struct{}
	started chan string
}

func (h *hung) Enrich(ctx context.Context, c *event.Container) error {
	h.started <- c.FullID
	select {
	case <-h.release:
		c.Name = "late-" + c.ID
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// procRoot writes a fake /proc with one docker container process per id
// (pid 100, 101, ...).
func fakeProcRoot(t *testing.T, ids ...string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{"self/mountinfo": ""}
	for i, id := range ids {
		files[fmt.Sprintf("%d/cgroup", 100+i)] = "0::/docker/" + id + "\n"
	}
	for path, text := range files {
		path = filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// A runtime that never answers must not hold up lookups: the first new
// container waits out MetadataWait, later ones do not wait at all while
// the runtime is behind, and the metadata lands in the shared Container
// when it finally arrives.
func TestResolverDoesNotWaitForAHungProvider(t *testing.T) {
	a, b := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	h := &hung{release: make(chan struct{}), started: make(chan string, 2)}
	r, err := NewResolver(Config{
		ProcRoot: fakeProcRoot(t, a, b), Metadata: []MetadataProvider{h},
		MetadataTimeout: time.Hour, MetadataWait: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	ca, _, err := r.Lookup(100, 0)
	if err != nil || ca == nil || ca.ID != a[:12] {
		t.Fatalf("Lookup(a) = %+v, %v", ca, err)
	}
	if ca.Name != "" {
		t.Errorf("container a has metadata %q before the provider answered", ca.Name)
	}
	cb, _, err := r.Lookup(101, 0)
	if err != nil || cb == nil || cb.ID != b[:12] {
		t.Fatalf("Lookup(b) = %+v, %v", cb, err)
	}
	if got := r.Stats().MetadataLate; got != 2 {
		t.Errorf("MetadataLate = %d, want 2", got)
	}
	// Both lookups are with the provider, neither finished.
	for range 2 {
		<-h.started
	}
	close(h.release)
	// Update applies what arrived; poll it as the event loop would.
	deadline := time.Now().Add(time.Minute)
	for (ca.Name == "" || cb.Name == "") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		r.Update()
	}
	if ca.Name != "late-"+a[:12] || cb.Name != "late-"+b[:12] {
		t.Errorf("after the provider answered: a = %q, b = %q", ca.Name, cb.Name)
	}
	// The same Container is handed out again, with its metadata.
	if again, _, _ := r.Lookup(100, 0); again != ca {
		t.Errorf("Lookup(a) again = %p, want the cached %p", again, ca)
	}
	if s := r.Stats(); s.MetadataErrors != 0 || s.Containers != 2 {
		t.Errorf("stats = %+v", s)
	}
}

// Retain drops the containers no live process uses, and the caches stay
// within MaxContainers whatever the churn.
func TestResolverCachesAreBounded(t *testing.T) {
	ids := make([]string, 6)
	for i := range ids {
		ids[i] = fmt.Sprintf("%02d", i) + strings.Repeat("c", 62)
	}
	r, err := NewResolver(Config{ProcRoot: fakeProcRoot(t, ids...), MaxContainers: 4})
	if err != nil {
		t.Fatal(err)
	}
	var ctrs []*event.Container
	for i := range ids {
		c, _, err := r.Lookup(uint32(100+i), uint64(1000+i))
		if err != nil || c == nil {
			t.Fatalf("Lookup(%d) = %v, %v", 100+i, c, err)
		}
		ctrs = append(ctrs, c)
	}
	if len(r.byID) > 4 || len(r.byCgroup) > 4 {
		t.Errorf("caches hold %d containers, %d cgroups; bound 4", len(r.byID), len(r.byCgroup))
	}
	if got := r.Stats().Evicted; got != 4 {
		t.Errorf("Evicted = %d, want 4 (2 containers, 2 cgroup ids)", got)
	}
	live := ctrs[5]
	n := r.Retain(map[uint64]bool{1005: true}, map[*event.Container]bool{live: true})
	if len(r.byID) != 1 || r.byID[live.FullID] != live || len(r.byCgroup) != 1 || r.byCgroup[1005] != live {
		t.Errorf("after Retain: byID %v, byCgroup %v", r.byID, r.byCgroup)
	}
	if n != 6 || r.Stats().Forgotten != 6 {
		t.Errorf("Retain dropped %d (Forgotten %d), want 6", n, r.Stats().Forgotten)
	}
}
