// Command revshell is the core of a reverse shell, for the behaviour
// corpus: it opens a TCP connection (to a listener of its own on the
// loopback, so that it needs no peer), puts the socket on its standard
// input, output and error with dup2, and runs `sh -c true` over it.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "revshell:", err)
		os.Exit(1)
	}
}

func run() error {
	loopback := [4]byte{127, 0, 0, 1}
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	if err := syscall.Bind(ln, &syscall.SockaddrInet4{Addr: loopback}); err != nil {
		return err
	}
	if err := syscall.Listen(ln, 1); err != nil {
		return err
	}
	sa, err := syscall.Getsockname(ln)
	if err != nil {
		return err
	}
	s, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	if err := syscall.Connect(s, &syscall.SockaddrInet4{Addr: loopback, Port: sa.(*syscall.SockaddrInet4).Port}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	for fd := range 3 {
		if err := syscall.Dup2(s, fd); err != nil {
			return fmt.Errorf("dup2 onto %d: %w", fd, err)
		}
	}
	return syscall.Exec("/bin/sh", []string{"sh", "-c", "true"}, os.Environ())
}
