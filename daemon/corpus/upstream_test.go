package corpus

// upstreamRulesFile is Falco's stable rules file, read at test time (never
// copied into the repository) and loaded unchanged into a second daemon.
const upstreamRulesFile = "../../../shared/falco-rules/falco_rules.yaml"

// incubatingRulesFile is Falco's incubating rules file, loaded unchanged
// after the stable one into the same daemon, as Falco loads them.
const incubatingRulesFile = "../../../shared/falco-rules/falco-incubating_rules.yaml"

// incubatingRules are the rules of the incubating file that a default rule
// shares its name with: a behaviour whose first rule is one of them, and
// that no stable rule covers, must raise the incubating rule too.
var incubatingRules = map[string]bool{
	"Adding ssh keys to authorized_keys":             true,
	"Change thread namespace":                        true,
	"Delete or rename shell history":                 true,
	"Launch Package Management Process in Container": true,
	"Launch Remote File Copy Tools in Container":     true,
	"Launch Suspicious Network Tool in Container":    true,
	"Launch Suspicious Network Tool on Host":         true,
	"Modify Shell Configuration File":                true,
	"Schedule Cron Jobs":                             true,
	"Set Setuid or Setgid bit":                       true,
	"User mgmt binaries":                             true,
}

// incubatingNotChecked are the behaviours (as where/name) whose incubating
// rule is not expected to fire, and why.
var incubatingNotChecked = map[string]string{
	"host/enter another process's network namespace": "Falco's rule excepts nsenter on the host, nightjar's does not",
	"container/truncate the shell history":           "busybox's shell runs it through /proc/self/exe, so the kernel names the process exe, which Falco's rule excepts as a container runtime binary",
}

// withIncubating points b's upstream check at the incubating rule of its
// name, where there is one.
func withIncubating(b *behaviour) {
	if b.upstream != "" || len(b.rules) == 0 || !incubatingRules[b.rules[0]] {
		return
	}
	b.upstream = b.rules[0]
	b.upstreamNeeds = incubatingNotChecked[where(*b)+"/"+b.name]
}
