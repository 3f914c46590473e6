// Package trustdir decides whether a directory may hold the daemon's files
// (the spool, the alert file). The daemon runs as root and writes there, so
// a directory another user can write to, or a symbolic link someone else
// planted, would let that user redirect or replace what the daemon writes.
package trustdir

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Check reports an error unless dir is a real directory (not a symbolic
// link) owned by root or by the daemon's effective user, and not writable by
// group or others. A world-writable directory with the sticky bit owned by
// root (such as /tmp) is accepted when sticky is true: other users cannot
// remove or rename files there, and files are opened with O_NOFOLLOW.
func Check(dir string, sticky bool) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link; give the real directory", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", dir)
	}
	euid := uint32(os.Geteuid())
	if st.Uid != 0 && st.Uid != euid {
		return fmt.Errorf("%s is owned by uid %d, not by root", dir, st.Uid)
	}
	perm := fi.Mode()
	if perm&0o022 != 0 && !(sticky && perm&fs.ModeSticky != 0 && st.Uid == 0) {
		return fmt.Errorf("%s is writable by group or others (mode %04o); make it 0700 or 0755", dir, perm.Perm())
	}
	return nil
}

// OwnedRegular reports an error unless fi (from an open file's Stat) is a
// regular file owned by root or the daemon's effective user.
func OwnedRegular(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", path)
	}
	if euid := uint32(os.Geteuid()); st.Uid != 0 && st.Uid != euid {
		return fmt.Errorf("%s is owned by uid %d, not by root", path, st.Uid)
	}
	return nil
}
