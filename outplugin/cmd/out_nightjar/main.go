// Command out_nightjar is the nightjar Fluent Bit output plugin, built with
// -buildmode=c-shared. It only translates Fluent Bit's Go proxy calls into
// calls on package instance.
package main

import "C"

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
	"github.com/nightjar-sec/nightjar/outplugin/instance"
	"github.com/nightjar-sec/nightjar/outplugin/router"
)

// Fluent Bit owns the plugin's lifetime, so the open instances live here,
// for FLBPluginExit of Fluent Bit versions that do not call FLBPluginExitCtx.
var (
	mu        sync.Mutex
	instances = map[*instance.Instance]bool{}
	nextID    int
)

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) int {
	return output.FLBPluginRegister(def, "nightjar", "nightjar alert router: CloudWatch Logs, Cloud Logging")
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) int {
	mu.Lock()
	nextID++
	id := nextID
	mu.Unlock()
	inst, err := instance.Open(id, func(key string) string { return output.FLBPluginConfigKey(plugin, key) })
	if err != nil {
		fmt.Fprintf(os.Stderr, "[error] [output:nightjar:%d] init failed: %v\n", id, err)
		return output.FLB_ERROR
	}
	mu.Lock()
	instances[inst] = true
	mu.Unlock()
	output.FLBPluginSetContext(plugin, inst)
	return output.FLB_OK
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) (ret int) {
	defer func() {
		// A panic would abort Fluent Bit; drop the chunk instead, loudly.
		// The router recovers and counts panics of the flush itself; this
		// covers only the few lines of the shell.
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "[error] [output:nightjar] flush panicked, chunk dropped: %v\n%s", p, debug.Stack())
			ret = output.FLB_ERROR
		}
	}()
	inst, ok := output.FLBPluginGetContext(ctx).(*instance.Instance)
	if !ok {
		fmt.Fprintln(os.Stderr, "[error] [output:nightjar] flush for an unknown instance")
		return output.FLB_ERROR
	}
	// The chunk stays Fluent Bit's; nothing keeps it after the flush returns.
	chunk := unsafe.Slice((*byte)(data), int(length))
	switch inst.Flush(C.GoString(tag), chunk) {
	case router.OK:
		return output.FLB_OK
	case router.Retry:
		return output.FLB_RETRY
	}
	return output.FLB_ERROR
}

//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) int {
	inst, ok := output.FLBPluginGetContext(ctx).(*instance.Instance)
	if !ok {
		return output.FLB_ERROR
	}
	mu.Lock()
	delete(instances, inst)
	mu.Unlock()
	if err := inst.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "[warn] [output:nightjar] close: %v\n", err)
	}
	return output.FLB_OK
}

//export FLBPluginExit
func FLBPluginExit() int {
	mu.Lock()
	open := instances
	instances = map[*instance.Instance]bool{}
	mu.Unlock()
	for inst := range open {
		inst.Close()
	}
	return output.FLB_OK
}

func main() {}
