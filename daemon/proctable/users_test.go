package proctable

import (
	"os"
	"path/filepath"
	"testing"
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
