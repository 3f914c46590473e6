package proctable

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// benchOpenat measures Handle on openat events of one known process: a
// relative path resolved against the cwd, result fd 3 (reused, as in an
// open/close loop), each followed by its close.
func benchOpenat(b *testing.B, cfg Config) {
	tab := New(cfg)
	pid := uint32(fakePID)
	tab.Handle(execEv(pid, 1, "gen", "/usr/bin/gen", "gen"))
	cd := ev(event.Chdir, pid, 1, 0)
	cd.Path = []byte("/var/lib/nightjar/bench")
	tab.Handle(cd)
	open := sockEv(event.Openat, pid, unix.AT_FDCWD, 3)
	open.Args[1] = unix.O_RDONLY | unix.O_CLOEXEC
	open.Path = []byte("../data/./file.txt")
	closeEv := sockEv(event.Close, pid, 3, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tab.Handle(open)
		tab.Handle(closeEv)
	}
	b.StopTimer()
	if open.FD == nil || string(open.FD.Name) != "/var/lib/nightjar/data/file.txt" {
		b.Fatalf("openat FD %+v", open.FD)
	}
}

// BenchmarkHandleOpenat: the file is stored (within MaxFileFDs).
func BenchmarkHandleOpenat(b *testing.B) { benchOpenat(b, Config{}) }

// BenchmarkHandleOpenatNotStored: files are never stored; the path lives
// in the scratch buffer.
func BenchmarkHandleOpenatNotStored(b *testing.B) { benchOpenat(b, Config{MaxFileFDs: -1}) }
