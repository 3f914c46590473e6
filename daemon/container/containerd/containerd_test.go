package containerd

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

func TestMain(m *testing.M) { os.Exit(testctr.Main(m)) }

// TestEnrich starts containers with ctr in containerd's own namespace (no
// CRI) and checks what the provider learns from their records.
func TestEnrich(t *testing.T) {
	c := testctr.Start(t)
	plainID, privID := testctr.NewID(), testctr.NewID()
	began := time.Now()
	vol := t.TempDir()
	plain := c.StartWith(t, plainID, "/"+c.Namespace+"/"+plainID,
		testctr.StartOptions{Labels: map[string]string{LabelNerdctlName: "web-1"}, Mounts: []testctr.Mount{{Source: vol, Dest: "/data", ReadOnly: true}}},
		"sleep", "600")
	priv := c.StartWith(t, privID, "/"+c.Namespace+"/"+privID,
		testctr.StartOptions{Privileged: true}, "sleep", "600")

	p, err := New(Config{Address: c.Address})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, tt := range []struct {
		ct   *testctr.Container
		want event.Container
	}{
		{plain, event.Container{Name: "web-1", ImageRepository: "nightjar.test/busybox", ImageTag: "latest",
			Mounts: []event.ContainerMount{{Source: vol, Dest: "/data", Mode: "rbind,ro", RW: false}}}},
		{priv, event.Container{ImageRepository: "nightjar.test/busybox", ImageTag: "latest", Privileged: true}},
	} {
		path, err := container.CgroupV2Path("/proc", tt.ct.PID)
		if err != nil {
			t.Fatal(err)
		}
		info, ok := container.ParseCgroup(path)
		if !ok || info.FullID != tt.ct.ID || info.Runtime != container.RuntimeContainerd {
			t.Fatalf("cgroup %s of pid %d: %+v, %v", path, tt.ct.PID, info, ok)
		}
		got := event.Container{ID: info.ID, FullID: info.FullID, Runtime: info.Runtime}
		if err := p.Enrich(context.Background(), &got); err != nil {
			t.Fatalf("Enrich(%s): %v", info.ID, err)
		}
		want := tt.want
		want.ID, want.FullID, want.Runtime = info.ID, info.FullID, info.Runtime
		if ts := time.Unix(0, got.StartTS); ts.Before(began.Add(-time.Second)) || ts.After(time.Now()) {
			t.Errorf("Enrich(%s): start time %v, want between %v and now", info.ID, ts, began)
		}
		got.StartTS = 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Enrich(%s):\n got %+v\nwant %+v", info.ID, got, want)
		}
	}

	// Unknown to every namespace.
	unknown := event.Container{ID: "0123456789ab", FullID: strings.Repeat("0123456789abcdef", 4), Runtime: container.RuntimeContainerd}
	if err := p.Enrich(context.Background(), &unknown); !errors.Is(err, ErrNotFound) || unknown.ImageRepository != "" {
		t.Errorf("Enrich(unknown) = %v, %+v; want ErrNotFound", err, unknown)
	}
	// A namespace list that lacks the container's namespace.
	p2, err := New(Config{Address: c.Address, Namespaces: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	other := event.Container{ID: plain.ID[:12], FullID: plain.ID, Runtime: container.RuntimeContainerd}
	if err := p2.Enrich(context.Background(), &other); !errors.Is(err, ErrNotFound) {
		t.Errorf("Enrich in namespace default = %v, want ErrNotFound", err)
	}
	// Containers described already, or of other runtimes, are not asked.
	for _, skip := range []event.Container{
		{ID: plain.ID[:12], FullID: plain.ID, Runtime: container.RuntimeDocker},
		{ID: plain.ID[:12], FullID: plain.ID, Runtime: container.RuntimeContainerd, K8sPodName: "p", ImageRepository: "x"},
	} {
		got := skip
		if err := p.Enrich(context.Background(), &got); err != nil || !reflect.DeepEqual(got, skip) {
			t.Errorf("Enrich(%+v) = %v, %+v; want untouched", skip, err, got)
		}
	}
	if st := p.Stats(); st.Lookups != 3 || st.Enriched != 2 || st.NotFound != 1 || st.Errors != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestUnreachable: a socket nobody serves is an error, not a panic or a
// hang, and leaves the fields empty.
func TestUnreachable(t *testing.T) {
	p, err := New(Config{Address: t.TempDir() + "/none.sock"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := event.Container{ID: "0123456789ab", FullID: strings.Repeat("0123456789abcdef", 4), Runtime: container.RuntimeContainerd}
	err = p.Enrich(context.Background(), &c)
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "none.sock") || c.ImageRepository != "" {
		t.Errorf("Enrich = %v, %+v", err, c)
	}
	if _, err := New(Config{Address: "containerd.sock"}); err == nil {
		t.Error("New(relative address) succeeded")
	}
}

func TestPrivileged(t *testing.T) {
	for _, tt := range []struct {
		spec string
		want bool
	}{
		{`{"process":{"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_ADMIN"]}},"linux":{}}`, true},
		{`{"process":{"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_ADMIN"]}},"linux":{"maskedPaths":["/proc/kcore"]}}`, false},
		{`{"process":{"capabilities":{"bounding":["CAP_CHOWN","CAP_NET_RAW"]}},"linux":{}}`, false},
		{`{"process":{}}`, false},
	} {
		got, err := Privileged([]byte(tt.spec))
		if err != nil || got != tt.want {
			t.Errorf("Privileged(%s) = %v, %v; want %v", tt.spec, got, err, tt.want)
		}
	}
	if _, err := Privileged([]byte(`{"process":`)); err == nil {
		t.Error("Privileged(malformed) = nil error")
	}
}
