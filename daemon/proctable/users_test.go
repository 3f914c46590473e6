package proctable

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// TestUserDBMissesBounded: ids a process can switch to at will (setuid to
// any number, in a container) must not grow the name cache without bound,
// and a name added to the file later is still found.
func TestUserDBMissesBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, db := range []*userDB{newUserDB(path), {names: parsePasswd([]byte("root:x:0:0::/:/bin/sh\n"))}} {
		for uid := uint32(1); uid <= 100000; uid++ {
			if n := db.name(uid); n != "" {
				t.Fatalf("uid %d: name %q", uid, n)
			}
		}
		if got := len(db.names) + len(db.misses); got > 1+maxMisses {
			t.Errorf("%d cached ids after 100000 unknown ones, want at most %d", got, 1+maxMisses)
		}
		if db.name(0) != "root" {
			t.Errorf("root lost")
		}
	}
}

// TestSetIDNames: the ids a set*id call passes are named from the
// caller's database, as Falco's evt.arg.uid is ("unchanged" has no name).
func TestSetIDNames(t *testing.T) {
	tab := newTable(t, Config{})
	pid := uint32(os.Getpid())
	e := ev(event.Setresuid, pid, uint32(os.Getppid()), 0)
	e.Args = [4]int64{0, 65534, int64(^uint32(0))}
	tab.Handle(e)
	if e.IDNames != [3]string{"root", "nobody", ""} {
		t.Errorf("setresuid(0, 65534, -1) names %q, want root nobody and none (Debian's /etc/passwd)", e.IDNames)
	}
	e = ev(event.Setgid, pid, uint32(os.Getppid()), 0)
	e.Args = [4]int64{65534}
	tab.Handle(e)
	if e.IDNames != [3]string{"nogroup", "", ""} {
		t.Errorf("setgid(65534) names %q, want nogroup", e.IDNames)
	}
}

// TestCreatOpensFD: creat is an open; the descriptor it returns is the
// created file, by the kernel's path.
func TestCreatOpensFD(t *testing.T) {
	tab := newTable(t, Config{})
	pid := uint32(os.Getpid())
	e := ev(event.Creat, pid, uint32(os.Getppid()), 7)
	e.Args = [4]int64{0o1101, 0o644}
	e.Path, e.Path2 = []byte("x"), []byte("/dev/evil")
	tab.Handle(e)
	if e.FD == nil || string(e.FD.Name) != "/dev/evil" || e.FD.Num != 7 || e.FD.Type != event.FDFile {
		t.Fatalf("creat fd %+v, want 7 /dev/evil file", e.FD)
	}
	d := ev(event.Dup, pid, uint32(os.Getppid()), 8)
	d.Args[0] = 7
	tab.Handle(d)
	if d.FD == nil || string(d.FD.Name) != "/dev/evil" {
		t.Errorf("dup of the creat descriptor: %+v", d.FD)
	}
}
