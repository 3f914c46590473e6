package capture

import (
	"bytes"
	"net"
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

// TestConnectPeerRace: one thread connects while another keeps flipping
// the port in the caller's sockaddr between two listeners. Every
// successful connect is reported with the peer the socket is connected to
// (getpeername's), not what the caller's memory held when the capture
// looked.
func TestConnectPeerRace(t *testing.T) {
	const conns = 400
	var ports [2]int
	for i := range ports {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	col := sharedCol(t)
	cmd := exec.Command(os.Args[0], "connect-race", strconv.Itoa(ports[0]), strconv.Itoa(ports[1]), strconv.Itoa(conns))
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("connect-race: %v", err)
	}
	lines := strings.Fields(string(out))
	tid, _ := strconv.ParseUint(lines[0], 10, 32)
	var peers []uint16
	seen := map[uint16]int{}
	for _, l := range lines[1:] {
		p, _ := strconv.ParseUint(l, 10, 16)
		peers = append(peers, uint16(p))
		seen[uint16(p)]++
	}
	if seen[uint16(ports[0])] == 0 || seen[uint16(ports[1])] == 0 {
		t.Fatalf("connected %d times to port %d and %d to %d: the race was not exercised", seen[uint16(ports[0])], ports[0], seen[uint16(ports[1])], ports[1])
	}
	pid := uint32(cmd.Process.Pid)
	col.waitFor(t, pid, event.ProcExit, nil)
	var connected []event.Event
	deadline := time.Now().Add(10 * time.Second)
	for {
		connected = connected[:0]
		col.mu.Lock()
		marked := false
		for _, ev := range col.events {
			if ev.PID != pid || ev.TID != uint32(tid) {
				continue
			}
			marked = marked || ev.Type == event.Chdir && string(ev.Path) == "/"
			if marked && ev.Type == event.Connect && ev.Res == 0 {
				connected = append(connected, ev)
			}
		}
		col.mu.Unlock()
		if len(connected) >= len(peers) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(connected) != len(peers) {
		t.Fatalf("%d successful connect events from the racing thread, it connected %d sockets", len(connected), len(peers))
	}
	tab := proctable.New(proctable.Config{})
	for i := range connected {
		ev := &connected[i]
		if ev.Addr.Port != peers[i] || ev.Addr.Family != event.AFInet {
			t.Fatalf("connect %d: reported peer %+v, the socket is connected to port %d", i, ev.Addr, peers[i])
		}
		tab.Handle(ev)
		if ev.FD == nil || ev.FD.Remote.Port != peers[i] || !ev.FD.Connected {
			t.Fatalf("connect %d: fd %+v, want connected to port %d", i, ev.FD, peers[i])
		}
	}
}
