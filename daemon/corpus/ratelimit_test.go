package corpus

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// noisyRule is given a bucket of 2 alerts in the corpus daemon's
// configuration; no other case raises it.
const noisyRule = "Find Cloud Credentials"

// noisy checks through the daemon that a process flooding a rule empties
// only its own bucket: the flood is cut to the burst and listed in the
// suppression summary, and the same rule raised by another process right
// after is delivered.
func (e *env) noisy(t *testing.T) {
	dir := filepath.Join(e.base, "noisy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	from := e.defaults.mark()
	const floods = 40
	flood := fmt.Sprintf(`for i in $(seq %d); do grep -r GOOGLE_APPLICATION_CREDENTIALS %s; done; :`, floods, dir)
	noisyCmd := "grep -r GOOGLE_APPLICATION_CREDENTIALS " + dir
	session(t, exec.Command("sh", "-c", flood))
	otherCmd := "grep -rl GOOGLE_APPLICATION_CREDENTIALS " + dir
	session(t, exec.Command("sh", "-c", otherCmd+"; :")) // grep finds nothing

	if r := e.defaults.wait(from, alertWait, func(r *record) bool {
		return r.Rule == noisyRule && r.field("proc.cmdline") == otherCmd
	}); r == nil {
		t.Errorf("the other process's alert was not delivered after the flood; alerts of the rule:%s",
			list(e.defaults.since(from), func(r *record) bool { return r.Rule == noisyRule }))
	}
	summary := e.defaults.wait(from, alertWait, func(r *record) bool {
		return r.Rule == "Nightjar internal: alerts suppressed" && strings.Contains(r.Output, "proc.cmdline="+noisyCmd)
	})
	if summary == nil {
		t.Fatalf("no suppression summary listing the noisy process (%s)", noisyCmd)
	}
	var suppressed float64
	keys, _ := summary.OutputFields["nightjar.suppressed.keys"].([]any)
	for _, k := range keys {
		if k, ok := k.(map[string]any); ok && k["rule"] == noisyRule && k["proc.cmdline"] == noisyCmd {
			suppressed, _ = k["suppressed"].(float64)
		}
	}
	delivered := 0
	for _, r := range e.defaults.since(from) {
		if r.Rule == noisyRule && r.field("proc.cmdline") == noisyCmd {
			delivered++
		}
	}
	// The summaries come every second: the flood may be split over two.
	if delivered != 2 || suppressed < 1 || suppressed > floods-2 {
		t.Errorf("noisy process: %d alerts delivered (want its burst of 2), %v suppressed in the summary %s", delivered, suppressed, summary)
	}
}
