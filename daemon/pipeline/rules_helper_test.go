package pipeline

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/nightjar-sec/nightjar/internal/misbehave"
)

// Some behaviours are system calls no command-line tool makes on its own
// (memfd execution, ptrace, module loading, packet sockets): the tests start
// this test binary again with helperEnv naming the behaviour, and it makes
// the calls and exits.
const helperEnv = "NIGHTJAR_RULES_HELPER"

// helperCmd returns the command that performs action in a child process.
func helperCmd(action string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+action)
	return cmd
}

func runHelper(action string, args []string) int {
	if err := misbehave.Perform(action, args); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", action, err)
		return 1
	}
	return 0
}
