package corpus

// upstreamRules runs Falco's stable rules file, loaded unchanged, in a
// second daemon beside the default rules, and adds to every behaviour an
// "upstream" subtest that waits for Falco's rule of the same behaviour.
// It needs the loader to accept every field the file uses (evt.num,
// proc.duration, fd.nameraw, proc.sname, proc.exe_ino.*, ...): set it to
// true once that has landed.
const upstreamRules = false

// upstreamRulesFile is Falco's stable rules file, read at test time.
const upstreamRulesFile = "../../../shared/falco-rules/falco_rules.yaml"
