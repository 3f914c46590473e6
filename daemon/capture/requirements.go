package capture

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Requirement is a kernel feature and the first Linux release that has it.
type Requirement struct {
	What         string
	Major, Minor int
}

func (r Requirement) newer(o Requirement) bool {
	return r.Major > o.Major || r.Major == o.Major && r.Minor > o.Minor
}

// The first releases of what the capture programs use, from the kernel's
// history of each helper, map type and program type.
var (
	helperSince = map[asm.BuiltinFunc]Requirement{
		asm.FnMapLookupElem:              {"bpf_map_lookup_elem", 3, 19},
		asm.FnMapUpdateElem:              {"bpf_map_update_elem", 3, 19},
		asm.FnMapDeleteElem:              {"bpf_map_delete_elem", 3, 19},
		asm.FnGetCurrentPidTgid:          {"bpf_get_current_pid_tgid", 4, 2},
		asm.FnGetCurrentUidGid:           {"bpf_get_current_uid_gid", 4, 2},
		asm.FnGetCurrentComm:             {"bpf_get_current_comm", 4, 2},
		asm.FnGetCurrentCgroupId:         {"bpf_get_current_cgroup_id", 4, 18},
		asm.FnProbeReadUser:              {"bpf_probe_read_user", 5, 5},
		asm.FnProbeReadUserStr:           {"bpf_probe_read_user_str", 5, 5},
		asm.FnProbeReadKernel:            {"bpf_probe_read_kernel", 5, 5},
		asm.FnProbeReadKernelStr:         {"bpf_probe_read_kernel_str", 5, 5},
		asm.FnKtimeGetBootNs:             {"bpf_ktime_get_boot_ns", 5, 8},
		asm.FnRingbufOutput:              {"bpf_ringbuf_output", 5, 8},
		asm.FnRingbufQuery:               {"bpf_ringbuf_query", 5, 8},
		asm.FnGetCurrentTaskBtf:          {"bpf_get_current_task_btf", 5, 11},
		asm.FnLoop:                       {"bpf_loop", 5, 17},
		asm.FnGetCurrentTask:             {"bpf_get_current_task", 4, 8},
		asm.FnKtimeGetNs:                 {"bpf_ktime_get_ns", 4, 1},
		asm.FnGetSmpProcessorId:          {"bpf_get_smp_processor_id", 4, 1},
		asm.FnRingbufReserve:             {"bpf_ringbuf_reserve", 5, 8},
		asm.FnRingbufSubmit:              {"bpf_ringbuf_submit", 5, 8},
		asm.FnRingbufDiscard:             {"bpf_ringbuf_discard", 5, 8},
		asm.FnGetCurrentAncestorCgroupId: {"bpf_get_current_ancestor_cgroup_id", 5, 7},
	}
	mapSince = map[ebpf.MapType]Requirement{
		ebpf.Hash:        {"hash maps", 3, 19},
		ebpf.Array:       {"array maps", 3, 19},
		ebpf.PerCPUArray: {"per-CPU array maps", 4, 6},
		ebpf.LRUHash:     {"LRU hash maps", 4, 10},
		ebpf.RingBuf:     {"the BPF ring buffer", 5, 8},
	}
	// BTF-enabled raw tracepoints (tp_btf) are tracing programs.
	tracingSince    = Requirement{"BTF tracepoints (tp_btf)", 5, 5}
	globalFuncSince = Requirement{"global BPF functions", 5, 6}
	rodataSince     = Requirement{"read-only global data", 5, 2}
)

// Requirements returns the newest kernel feature the programs, maps and
// helper calls of spec need: the oldest kernel that can load it. It fails
// on anything whose first release it does not know.
func Requirements(spec *ebpf.CollectionSpec) (Requirement, error) {
	need := Requirement{"eBPF", 3, 19}
	take := func(r Requirement) {
		if r.newer(need) {
			need = r
		}
	}
	for name, m := range spec.Maps {
		if name == ".rodata" || name == ".data" || name == ".bss" {
			take(rodataSince)
			continue
		}
		r, ok := mapSince[m.Type]
		if !ok {
			return need, fmt.Errorf("capture: map %s is of type %s, whose first kernel is not known", name, m.Type)
		}
		take(r)
	}
	for name, p := range spec.Programs {
		if p.Type != ebpf.Tracing || p.AttachType != ebpf.AttachTraceRawTp {
			return need, fmt.Errorf("capture: program %s is of type %s/%s, whose first kernel is not known", name, p.Type, p.AttachType)
		}
		take(tracingSince)
		for i := range p.Instructions {
			ins := &p.Instructions[i]
			if fn := btf.FuncMetadata(ins); fn != nil && i > 0 && fn.Linkage == btf.GlobalFunc {
				take(globalFuncSince)
			}
			if !ins.IsBuiltinCall() {
				continue
			}
			fn := asm.BuiltinFunc(ins.Constant)
			r, ok := helperSince[fn]
			if !ok {
				return need, fmt.Errorf("capture: program %s calls %s, whose first kernel is not known", name, fn)
			}
			take(r)
		}
	}
	return need, nil
}
