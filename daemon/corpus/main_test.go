package corpus

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/misbehave"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

// Some behaviours are system calls no command-line tool makes on its own
// (fileless execution, ptrace, module loading, packet sockets): the test
// binary runs itself again with helperEnv naming the behaviour.
const helperEnv = "NIGHTJAR_CORPUS_HELPER"

func TestMain(m *testing.M) {
	if action := os.Getenv(helperEnv); action != "" {
		if err := misbehave.Perform(action, os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", action, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The corpus's cases mostly wait (for a container, a process, the
	// daemon): run many at once unless -test.parallel says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	os.Exit(testctr.Main(m))
}
