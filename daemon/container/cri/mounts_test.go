package cri

import (
	"reflect"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nightjar-sec/nightjar/internal/event"
)

func TestMounts(t *testing.T) {
	got := mounts([]*runtimeapi.Mount{
		{ContainerPath: "/a", HostPath: "/host/a"},
		{ContainerPath: "/b", HostPath: "/host/b", Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{ContainerPath: "/c", HostPath: "/host/c", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL},
	})
	want := []event.ContainerMount{
		{Source: "/host/a", Dest: "/a", Mode: "rw", RW: true, Propagation: "rprivate"},
		{Source: "/host/b", Dest: "/b", Mode: "ro", Propagation: "rslave"},
		{Source: "/host/c", Dest: "/c", Mode: "rw", RW: true, Propagation: "rshared"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts:\n got %+v\nwant %+v", got, want)
	}
	if mounts(nil) != nil {
		t.Error("no mounts gave a non-nil slice")
	}
}
