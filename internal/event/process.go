package event

// Process is what the process table knows about a process. Entries are owned
// by the process table; the rule engine only reads them.
type Process struct {
	PID, PPID uint32
	// Name is the kernel task name (Falco's proc.name).
	Name string
	// Exe is argv[0] (proc.exe); ExePath the resolved executable (proc.exepath).
	Exe, ExePath string
	// Args are the arguments after argv[0] (proc.args).
	Args               []string
	Cwd                string
	UID, GID, LoginUID uint32
	// User and LoginUser are the names of UID and LoginUID, Group the name
	// of GID, or "" when unknown.
	User, LoginUser, Group string
	TTY                    uint32
	SID, VPGID             uint32
	// StartTime is in nanoseconds since the Unix epoch.
	StartTime int64
	CgroupID  uint64
	// ExeFromMemfd and ExeUpperLayer tell where the executable came from.
	ExeFromMemfd, ExeUpperLayer bool
	// CapEffective, CapPermitted and CapInheritable are the thread's
	// capability sets, kept current at exec, capset and set*id.
	CapEffective, CapPermitted, CapInheritable uint64
	// VPID is the pid as seen in the process's own pid namespace
	// (Falco's proc.vpid); VPGID above is namespace-relative as well.
	VPID uint32
	// ExeIno, ExeInoCtime and ExeInoMtime describe the executable's inode at
	// exec time (times in nanoseconds since the Unix epoch).
	ExeIno                   uint64
	ExeInoCtime, ExeInoMtime int64
	// ExePathTruncated reports that ExePath was cut at the kernel's path
	// buffer, so ExePath is a suffix, not the whole path.
	ExePathTruncated bool
	// Env holds the environment where it could be read (KEY=value), else nil.
	Env []string
	// Parent is the parent's entry, or nil when it is unknown. It may refer to
	// a process that has exited.
	Parent *Process
	// Container is the container the process runs in, or nil on the host.
	Container *Container
}

// Container is what the metadata providers know about a container.
type Container struct {
	ID              string // 12-character short id, as Falco's container.id
	FullID          string
	Name            string
	ImageRepository string
	ImageTag        string
	Privileged      bool
	// Runtime is docker, containerd, cri-o, podman or ecs.
	Runtime                             string
	K8sNamespace, K8sPodName, K8sPodUID string
	K8sPodLabels                        map[string]string
	ECSTaskARN, ECSCluster, ECSFamily   string
	// StartTS is the container's start time in nanoseconds since the Unix
	// epoch, or 0 when unknown (Falco's container.start_ts).
	StartTS int64
	// Mounts are the container's mounts as its runtime reports them.
	Mounts []ContainerMount
}

// ContainerMount is one mount of a container (Falco's container.mount.*).
type ContainerMount struct {
	Source, Dest string
	Mode         string // mount options as the runtime gives them ("ro", "rw,rprivate")
	RW           bool
	Propagation  string
}

// FD types, as Falco's fd.type.
const (
	FDUnknown = iota
	FDFile
	FDDirectory
	FDIPv4
	FDIPv6
	FDUnix
	FDPipe
	FDEvent
	FDSignal
	FDMemfd
	FDNetlink
)

// FD is what a file descriptor refers to.
type FD struct {
	Num  int32
	Type uint8
	// Name is the absolute path of a file, or the socket tuple as Falco
	// prints it ("10.0.0.1:4242->10.0.0.2:80"). For the FD of an Event it may
	// point into a scratch buffer valid until the next event.
	Name          []byte
	Local, Remote SockAddr
	Proto         uint8
	// Connected reports a socket that is connected (connect succeeded or it
	// came from accept).
	Connected bool
}
