package containerd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

func TestMounts(t *testing.T) {
	spec := `{"mounts":[
		{"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
		{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755"]},
		{"destination":"/etc/resolv.conf","type":"bind","source":"/var/lib/x/resolv.conf","options":["rbind","rprivate","rw"]},
		{"destination":"/data","source":"/srv/data","options":["rbind","ro","rslave"]}
	]}`
	got, err := Mounts([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	want := []event.ContainerMount{
		{Source: "/var/lib/x/resolv.conf", Dest: "/etc/resolv.conf", Mode: "rbind,rprivate,rw", RW: true, Propagation: "rprivate"},
		{Source: "/srv/data", Dest: "/data", Mode: "rbind,ro,rslave", Propagation: "rslave"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Mounts:\n got %+v\nwant %+v", got, want)
	}
	if _, err := Mounts([]byte(`{"mounts":{}}`)); err == nil || !strings.Contains(err.Error(), "decode OCI spec") {
		t.Errorf("Mounts of a malformed spec: %v", err)
	}
}
