package corpus

// upstreamRulesFile is Falco's stable rules file, read at test time (never
// copied into the repository) and loaded unchanged into a second daemon.
const upstreamRulesFile = "../../../shared/falco-rules/falco_rules.yaml"
