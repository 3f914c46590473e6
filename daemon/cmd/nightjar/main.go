// Command nightjar is the detection daemon: it captures system calls with
// eBPF, evaluates them against rules and delivers alerts.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("nightjar", version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: nightjar run|trace|rules|version")
	os.Exit(2)
}
