// Package corpus holds nightjar's behaviour corpus: tests, and nothing
// else, that run the real nightjar binary (`nightjar run`, eBPF in the
// running kernel, alerts as JSON on its standard output), perform attack
// behaviours for real on the host and in real containers, and check that
// the default rules raise the expected alert for each; and a benign
// corpus of everyday work (building and testing Go code, installing a
// package, starting containers) that must raise none.
//
// Falco's stable and incubating rule files (../shared/falco-rules/),
// loaded unchanged into a second daemon, are checked against the same
// behaviours: each behaviour that a Falco rule covers has an "upstream"
// subtest waiting for that rule's alert.
//
// Every case runs in parallel in the same daemon (8 at once unless
// -test.parallel says otherwise); each is told apart by its container or,
// on the host, by its session and a marker in its parent's name and paths.
// NIGHTJAR_CORPUS_DUMP=PATH writes every alert each daemon printed to
// PATH.<daemon> when the corpus ends.
//
// Dangerous calls are made harmless: module loads are given images the
// kernel rejects, release_agent is opened in a throwaway cgroup hierarchy
// mounted inside a privileged test container, connections stay inside
// network namespaces the tests create. Nothing is left behind.
package corpus
