package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/nightjar-sec/nightjar/rules"
)

const rulesUsage = `usage: nightjar rules <command> [PATH...]

commands:
  validate PATH...  check rules files and directories; print every error and exit 1 on failure
  list [PATH...]    list the rules (the embedded defaults, then PATH...): name, priority, tags, event types
`

func rulesCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	switch args[0] {
	case "validate":
		if len(args) < 2 {
			fmt.Fprint(stderr, rulesUsage)
			return 2
		}
		set, err := rules.LoadFiles(rules.ValidateOptions(), args[1:]...)
		if err != nil {
			printRulesError(stderr, err)
			return 1
		}
		printValidation(stdout, stderr, strings.Join(args[1:], ", "), set)
		return 0
	case "list":
		srcs, err := rules.ReadSources(args[1:]...)
		if err != nil {
			printRulesError(stderr, err)
			return 1
		}
		set, err := rules.Default(rules.Options{}, srcs...)
		if err != nil {
			printRulesError(stderr, err)
			return 1
		}
		listRules(stdout, set)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, rulesUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "nightjar rules: unknown command %q\n%s", args[0], rulesUsage)
		return 2
	}
}

// printRulesError prints each error of a load on its own line.
func printRulesError(w io.Writer, err error) {
	var list rules.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}

// printValidation prints a successful load: each warning on stderr, then
// what was loaded on stdout.
func printValidation(stdout, stderr io.Writer, what string, set *rules.Set) {
	for _, w := range set.Warnings() {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	enabled := 0
	for _, r := range set.Rules() {
		if r.Enabled {
			enabled++
		}
	}
	fmt.Fprintf(stdout, "%s: ok: %d rules loaded (%d enabled), %d warnings\n", what, len(set.Rules()), enabled, len(set.Warnings()))
	req := set.RequiredEngineVersion()
	if req == "" {
		req = "none"
	}
	fmt.Fprintf(stdout, "engine version %s (required: %s)\n", rules.EngineVersion, req)
	for _, p := range set.RequiredPlugins() {
		fmt.Fprintf(stdout, "required plugin %s: provided by nightjar's built-in fields\n", p)
	}
}

func listRules(w io.Writer, set *rules.Set) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tPRIORITY\tENABLED\tTAGS\tEVENT TYPES")
	for _, r := range set.Rules() {
		types := make([]string, len(r.EventTypes))
		for i, t := range r.EventTypes {
			types[i] = t.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", r.Name, r.Priority, r.Enabled,
			strings.Join(r.Tags, ","), strings.Join(types, ","))
	}
	tw.Flush()
}
