package proctable

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// userDB maps ids to names from a passwd or group file (both give the
// name in the first field and the id in the third). Misses are cached too,
// up to maxMisses: a process can switch to any id it likes, and the cache
// must not grow with them. The host's file is read again when its
// modification time changes.
type userDB struct {
	path   string // "" for a database that is never reloaded
	mtime  time.Time
	names  map[uint32]string
	misses map[uint32]struct{}
}

// maxMisses bounds the unknown ids a database remembers; past it they are
// forgotten and counted afresh.
const maxMisses = 1024

func newUserDB(path string) *userDB {
	db := &userDB{path: path, names: map[uint32]string{}}
	db.reload()
	return db
}

func (db *userDB) name(uid uint32) string {
	if n, ok := db.names[uid]; ok {
		return n
	}
	if _, ok := db.misses[uid]; ok {
		return ""
	}
	if db.reload() {
		if n, ok := db.names[uid]; ok {
			return n
		}
	}
	if db.misses == nil || len(db.misses) >= maxMisses {
		db.misses = make(map[uint32]struct{})
	}
	db.misses[uid] = struct{}{}
	return ""
}

// reload re-reads the file when it changed and reports whether it did.
func (db *userDB) reload() bool {
	if db.path == "" {
		return false
	}
	fi, err := os.Stat(db.path)
	if err != nil || fi.ModTime().Equal(db.mtime) {
		return false
	}
	b, err := os.ReadFile(db.path)
	if err != nil {
		return false
	}
	db.mtime = fi.ModTime()
	db.names = parsePasswd(b)
	db.misses = nil
	return true
}

// parsePasswd reads name:password:id:... lines of a passwd or group file;
// malformed lines are skipped, as the C library does.
func parsePasswd(b []byte) map[uint32]string {
	names := make(map[uint32]string)
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		f := strings.SplitN(string(line), ":", 4)
		if len(f) < 4 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := names[uint32(uid)]; !dup {
			names[uint32(uid)] = f[0]
		}
	}
	return names
}

// containerUserDB reads file (etc/passwd or etc/group) inside the root of
// process pid,
// resolving symbolic links inside that root (RESOLVE_IN_ROOT) so that a
// container cannot point the daemon at a host file. The container controls
// the file, and the read runs on the event goroutine, so it must not be
// able to block: the open does not wait (O_NONBLOCK: a FIFO opens at once),
// only a regular file on the root's own mount is read (RESOLVE_NO_XDEV: no
// bind-mounted FUSE file), and at most maxPasswd bytes. Best effort: an
// unreadable file gives an empty database.
const maxPasswd = 1 << 20

func containerUserDB(procRoot string, pid uint32, file string) *userDB {
	db := &userDB{names: map[uint32]string{}}
	root, err := unix.Open(procRoot+"/"+strconv.FormatUint(uint64(pid), 10)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return db
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, file, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return db
	}
	f := os.NewFile(uintptr(fd), file)
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return db
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPasswd))
	if err != nil {
		return db
	}
	db.names = parsePasswd(b)
	return db
}
