package event

// argNames gives, per event type, the Falco argument name of each entry of
// Event.Args. An empty name marks an unused slot.
var argNames = [NumTypes][4]string{
	Execveat:    {"dirfd", "flags"},
	Open:        {"flags", "mode"},
	Creat:       {"flags", "mode"},
	Openat:      {"dirfd", "flags", "mode"},
	Openat2:     {"dirfd", "flags", "mode", "resolve"},
	Connect:     {"fd"},
	Accept:      {"fd"},
	Accept4:     {"fd", "flags"},
	Bind:        {"fd"},
	Listen:      {"fd", "backlog"},
	Socket:      {"domain", "type", "proto"},
	Sendto:      {"fd", "size"},
	Sendmsg:     {"fd", "size"},
	Dup:         {"fd"},
	Dup2:        {"oldfd", "newfd"},
	Dup3:        {"oldfd", "newfd", "flags"},
	Close:       {"fd"},
	Symlinkat:   {"linkdirfd"},
	Linkat:      {"olddir", "newdir", "flags"},
	Unlinkat:    {"dirfd", "flags"},
	Renameat:    {"olddirfd", "newdirfd"},
	Renameat2:   {"olddirfd", "newdirfd", "flags"},
	Mkdir:       {"mode"},
	Mkdirat:     {"dirfd", "mode"},
	Chmod:       {"mode"},
	Fchmod:      {"fd", "mode"},
	Fchmodat:    {"dirfd", "mode"},
	Ptrace:      {"request", "pid"},
	InitModule:  {"len"},
	Bpf:         {"cmd"},
	FinitModule: {"fd", "flags"},
	Setuid:      {"uid"},
	Setgid:      {"gid"},
	Setreuid:    {"ruid", "euid"},
	Setregid:    {"rgid", "egid"},
	Setresuid:   {"ruid", "euid", "suid"},
	Setresgid:   {"rgid", "egid", "sgid"},
	Setns:       {"fd", "nstype"},
	Unshare:     {"flags"},
	Mount:       {"flags"},
	MemfdCreate: {"flags"},
	Clone:       {"flags"},
	Clone3:      {"flags"},
	ProcExit:    {"status"},
	Fchdir:      {"fd"},
}

// pathArgNames gives, per event type, the Falco argument names of Event.Path
// and Event.Path2.
var pathArgNames = [NumTypes][2]string{
	Execve:      {"filename"},
	Execveat:    {"pathname"},
	Open:        {"name"},
	Creat:       {"name"},
	Openat:      {"name"},
	Openat2:     {"name"},
	Symlink:     {"target", "linkpath"},
	Symlinkat:   {"target", "linkpath"},
	Link:        {"oldpath", "newpath"},
	Linkat:      {"oldpath", "newpath"},
	Unlink:      {"path"},
	Rmdir:       {"path"},
	Unlinkat:    {"name"},
	Rename:      {"oldpath", "newpath"},
	Renameat:    {"oldpath", "newpath"},
	Renameat2:   {"oldpath", "newpath"},
	Mkdir:       {"path"},
	Mkdirat:     {"path"},
	Chmod:       {"filename"},
	Fchmodat:    {"filename"},
	Mount:       {"dev", "dir"},
	MemfdCreate: {"name"},
	Chdir:       {"path"},
}

// ArgIndex returns the index in Event.Args of the numeric argument that
// Falco calls name for events of type t.
func ArgIndex(t Type, name string) (int, bool) {
	if t >= NumTypes {
		return 0, false
	}
	for i, n := range argNames[t] {
		if n != "" && n == name {
			return i, true
		}
	}
	return 0, false
}

// PathArgIndex returns 0 for Event.Path or 1 for Event.Path2 when Falco calls
// that string argument of events of type t by name.
func PathArgIndex(t Type, name string) (int, bool) {
	if t >= NumTypes {
		return 0, false
	}
	for i, n := range pathArgNames[t] {
		if n != "" && n == name {
			return i, true
		}
	}
	return 0, false
}
