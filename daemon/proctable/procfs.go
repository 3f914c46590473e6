package proctable

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// userHZ is the unit of the start time in /proc/<pid>/stat: the kernel
// reports clock ticks at USER_HZ, 100 on every Linux architecture's ABI.
const userHZ = 100

// maxEnv bounds the environment read for one process.
const maxEnv = 32 << 10

// readProc builds an entry from /proc/<pid>. An error wrapping
// fs.ErrNotExist means the process is gone.
func (t *Table) readProc(pid uint32) (*entry, error) {
	dir := t.procRoot + "/" + strconv.FormatUint(uint64(pid), 10)
	e := &entry{}
	p := &e.proc
	p.PID = pid

	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	st, err := parseStat(dir+"/stat", stat)
	if err != nil {
		return nil, err
	}
	p.PPID, p.SID, p.TTY = st.ppid, st.session, st.tty
	p.VPGID = st.pgrp
	p.StartTime = t.bootTime + int64(st.startTicks)*(1e9/userHZ)
	p.Name = st.comm

	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return nil, err
	}
	if err := parseStatus(dir+"/status", status, p); err != nil {
		return nil, err
	}
	if comm, err := os.ReadFile(dir + "/comm"); err == nil {
		p.Name = string(bytes.TrimSuffix(comm, []byte{'\n'}))
	}

	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return nil, err
	}
	if args := bytes.TrimRight(cmdline, "\x00"); len(args) > 0 {
		parts := strings.Split(string(args), "\x00")
		p.Exe = parts[0]
		if len(parts) > 1 {
			p.Args = parts[1:]
		}
	}
	// Kernel threads have no executable, cwd or environment to read;
	// permission errors (hidepid) leave these empty as well.
	p.ExePath, _ = os.Readlink(dir + "/exe")
	p.Cwd, _ = os.Readlink(dir + "/cwd")
	if p.Exe == "" {
		p.Exe = p.Name
	}
	p.ExeFromMemfd = strings.HasPrefix(p.ExePath, "memfd:") || strings.HasPrefix(p.ExePath, "/memfd:")
	// The exe link opens the image itself, even when its path is gone.
	var exe unix.Stat_t
	if err := unix.Stat(dir+"/exe", &exe); err == nil {
		p.ExeIno = exe.Ino
		p.ExeInoCtime = exe.Ctim.Nano()
		p.ExeInoMtime = exe.Mtim.Nano()
	}
	if env := readEnv(dir + "/environ"); env != nil {
		p.Env = env
	}

	p.LoginUID = ^uint32(0)
	if b, err := os.ReadFile(dir + "/loginuid"); err == nil {
		s := strings.TrimSpace(string(b))
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s/loginuid: line 1: loginuid: invalid value %q", dir, s)
		}
		p.LoginUID = uint32(v)
	}

	if t.containers != nil {
		c, id, err := t.containers.Lookup(pid, 0)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			t.stats.ContainerErrs++
		}
		p.Container, p.CgroupID = c, id
	}
	p.User = t.userName(p, p.UID)
	p.Group = t.groupName(p, p.GID)
	p.LoginUser = t.loginName(p.LoginUID)
	p.ExeUpperLayer = t.upperLayer(p)
	return e, nil
}

func readEnv(name string) []string {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, maxEnv)
	n, _ := f.Read(b)
	b = bytes.TrimRight(b[:n], "\x00")
	if len(b) == 0 {
		return nil
	}
	env := strings.Split(string(b), "\x00")
	if n == maxEnv {
		env = env[:len(env)-1] // the last one may be cut
	}
	return env
}

type procStat struct {
	comm                string
	ppid, pgrp, session uint32
	tty                 uint32
	startTicks          uint64
}

// parseStat parses /proc/<pid>/stat. The command name sits in parentheses
// and may itself contain spaces and parentheses, so fields are counted
// from the last ')'.
func parseStat(name string, b []byte) (procStat, error) {
	var st procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return st, fmt.Errorf("%s: line 1: comm: no parenthesised command name", name)
	}
	st.comm = string(b[open+1 : end])
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state) of proc(5); field n is fields[n-3].
	const ppid, pgrp, session, ttyNr, starttime = 4, 5, 6, 7, 22
	if len(fields) < starttime-2 {
		return st, fmt.Errorf("%s: line 1: %d fields after the command name, want at least %d", name, len(fields), starttime-2)
	}
	num := func(n int, field string, bits int) (uint64, error) {
		v, err := strconv.ParseInt(fields[n-3], 10, bits+1)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%s: line 1: %s: invalid value %q", name, field, fields[n-3])
		}
		return uint64(v), nil
	}
	var v uint64
	var err error
	if v, err = num(ppid, "ppid", 32); err != nil {
		return st, err
	}
	st.ppid = uint32(v)
	if v, err = num(pgrp, "pgrp", 32); err != nil {
		return st, err
	}
	st.pgrp = uint32(v)
	if v, err = num(session, "session", 32); err != nil {
		return st, err
	}
	st.session = uint32(v)
	if v, err = num(ttyNr, "tty_nr", 32); err != nil {
		return st, err
	}
	st.tty = uint32(v)
	if st.startTicks, err = num(starttime, "starttime", 63); err != nil {
		return st, err
	}
	return st, nil
}

// parseStatus takes the effective uid and gid, the capability sets and the
// innermost namespace's process, process group and session ids from
// /proc/<pid>/status.
func parseStatus(name string, b []byte, p *event.Process) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	seen := 0
	for n := 1; sc.Scan(); n++ {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		bad := func() error {
			return fmt.Errorf("%s: line %d: %s: invalid value %q", name, n, key, strings.TrimSpace(val))
		}
		switch key {
		case "Uid", "Gid":
			if len(fields) < 2 {
				return bad()
			}
			v, err := strconv.ParseUint(fields[1], 10, 32)
			if err != nil {
				return bad()
			}
			if key == "Uid" {
				p.UID = uint32(v)
			} else {
				p.GID = uint32(v)
			}
			seen++
		case "CapEff", "CapPrm", "CapInh":
			if len(fields) != 1 {
				return bad()
			}
			v, err := strconv.ParseUint(fields[0], 16, 64)
			if err != nil {
				return bad()
			}
			switch key {
			case "CapEff":
				p.CapEffective = v
			case "CapPrm":
				p.CapPermitted = v
			default:
				p.CapInheritable = v
			}
		case "NSpid", "NSpgid", "NSsid":
			// The last entry is the process's own pid namespace.
			if len(fields) == 0 {
				return bad()
			}
			v, err := strconv.ParseUint(fields[len(fields)-1], 10, 32)
			if err != nil {
				return bad()
			}
			switch key {
			case "NSpid":
				p.VPID = uint32(v)
			case "NSpgid":
				p.VPGID = uint32(v)
			default:
				p.SID = uint32(v)
			}
		}
	}
	if seen < 2 {
		return fmt.Errorf("%s: Uid or Gid line missing", name)
	}
	return nil
}

// readPPID returns the parent pid of pid from /proc.
func readPPID(procRoot string, pid uint32) (uint32, error) {
	name := procRoot + "/" + strconv.FormatUint(uint64(pid), 10) + "/stat"
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	st, err := parseStat(name, b)
	return st.ppid, err
}

// readBootTime returns the boot time from the btime line of /proc/stat, in
// nanoseconds since the epoch.
func readBootTime(name string) (int64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, fmt.Errorf("boot time: %w", err)
	}
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			s, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: line %d: btime: invalid value %q", name, n, v)
			}
			return s * 1e9, nil
		}
	}
	return 0, fmt.Errorf("%s: no btime line", name)
}

// rootUpperDir returns the upper directory of the overlayfs mounted at the
// root of process pid's mount namespace, or "" when its root is not an
// overlay.
func rootUpperDir(procRoot string, pid uint32) (string, error) {
	name := procRoot + "/" + strconv.FormatUint(uint64(pid), 10) + "/mountinfo"
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	upper := ""
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		fields := strings.Fields(string(line))
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+3 >= len(fields) || fields[4] != "/" {
			continue
		}
		// The last mount on "/" is the visible one.
		upper = ""
		if fields[sep+1] != "overlay" {
			continue
		}
		for _, opt := range strings.Split(fields[sep+3], ",") {
			if dir, ok := strings.CutPrefix(opt, "upperdir="); ok {
				upper = dir
			}
		}
	}
	return upper, nil
}
