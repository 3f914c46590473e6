// Package bpf holds nightjar's eBPF programs: the C sources, the kernel's
// vmlinux.h they are compiled against, and the bpf2go-generated objects and
// Go bindings that daemon/capture loads.
package bpf

// The flags are pinned so that the checked-in objects rebuild byte for byte.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -strip llvm-strip -target amd64 -type record -type event_type Capture capture.c -- -O2 -g -Wall -Werror -mcpu=v3
