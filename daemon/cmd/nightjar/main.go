// Command nightjar is the detection daemon: it captures system calls with
// eBPF, evaluates them against rules and delivers alerts.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: nightjar <command> [flags]

commands:
  run      run the detection daemon
  trace    print captured system calls as they happen
  rules    validate or list rules files
  version  print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "nightjar", version)
		return 0
	case "trace":
		return traceCmd(args[1:], stdout, stderr)
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "rules":
		return rulesCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "nightjar: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
