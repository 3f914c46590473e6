package capture

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/daemon/proctable"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// TestOpenPathRace: one thread opens a path while another keeps swapping
// the bytes of that path between a benign file and /etc/shadow. Every
// successful open is reported with the path of the file the kernel
// actually opened (the inode the opener saw with fstat), and the process
// table's fd.name is that path, whatever the caller's memory held when
// the capture looked at it.
func TestOpenPathRace(t *testing.T) {
	const opens = 3000
	benign := filepath.Join(t.TempDir(), "benign")
	if err := os.WriteFile(benign, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var shadow, ben unix.Stat_t
	if err := unix.Stat("/etc/shadow", &shadow); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(benign, &ben); err != nil {
		t.Fatal(err)
	}

	col := sharedCol(t)
	cmd := exec.Command(os.Args[0], "open-race", benign, strconv.Itoa(opens))
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("open-race: %v", err)
	}
	lines := strings.Fields(string(out))
	tid, _ := strconv.ParseUint(lines[0], 10, 32)
	inos := make([]uint64, 0, len(lines)-1)
	kinds := map[uint64]int{}
	for _, l := range lines[1:] {
		ino, _ := strconv.ParseUint(l, 10, 64)
		inos = append(inos, ino)
		kinds[ino]++
	}
	if kinds[shadow.Ino] == 0 || kinds[ben.Ino] == 0 {
		t.Fatalf("the racing thread opened /etc/shadow %d and the benign file %d times of %d: the race was not exercised",
			kinds[shadow.Ino], kinds[ben.Ino], len(inos))
	}

	pid := uint32(cmd.Process.Pid)
	col.waitFor(t, pid, event.ProcExit, nil)
	var opened []event.Event
	deadline := time.Now().Add(10 * time.Second)
	for {
		opened = opened[:0]
		col.mu.Lock()
		marked := false
		for _, ev := range col.events {
			if ev.PID != pid || ev.TID != uint32(tid) {
				continue
			}
			marked = marked || ev.Type == event.Chdir && string(ev.Path) == "/"
			if marked && ev.Type == event.Openat && ev.Res >= 0 {
				opened = append(opened, ev)
			}
		}
		col.mu.Unlock()
		if len(opened) >= len(inos) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(opened) != len(inos) {
		t.Fatalf("%d successful openat events from the racing thread, it opened %d files", len(opened), len(inos))
	}

	tab := proctable.New(proctable.Config{})
	userWrong := 0
	for i := range opened {
		ev := &opened[i]
		want := benign
		if inos[i] == shadow.Ino {
			want = "/etc/shadow"
		}
		if ev.Ino != inos[i] || string(ev.Path2) != want {
			t.Fatalf("open %d: reported inode %d path %q (caller's buffer: %q), the file opened was %s (inode %d)",
				i, ev.Ino, ev.Path2, ev.Path, want, inos[i])
		}
		if string(ev.Path) != want {
			userWrong++
		}
		tab.Handle(ev)
		if ev.FD == nil || !bytes.Equal(ev.FD.Name, ev.Path2) {
			t.Fatalf("open %d: fd %+v, want fd.name %q", i, ev.FD, want)
		}
	}
	t.Logf("%d opens (%d of /etc/shadow); the caller's buffer named another file than the one opened at %d of them",
		len(inos), kinds[shadow.Ino], userWrong)
}
