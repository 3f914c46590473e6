// Package alert defines nightjar's alert: the Falco-compatible JSON object
// that the daemon emits and the output plugin routes, and the priority scale.
package alert

import (
	"fmt"
	"strings"
	"time"
)

// Priority is a Falco priority. Lower values are more severe.
type Priority int8

// Priorities, highest first, as in Falco.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// String returns the priority's canonical name.
func (p Priority) String() string {
	if p >= 0 && int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return fmt.Sprintf("Priority(%d)", int8(p))
}

// ParsePriority parses a priority name case-insensitively. It accepts Falco's
// aliases "Info" and "Warn".
func ParsePriority(s string) (Priority, error) {
	switch strings.ToLower(s) {
	case "info":
		return PriorityInformational, nil
	case "warn":
		return PriorityWarning, nil
	}
	for i, n := range priorityNames {
		if strings.EqualFold(n, s) {
			return Priority(i), nil
		}
	}
	return 0, fmt.Errorf("unknown priority %q (want one of %s)", s, strings.Join(priorityNames[:], ", "))
}

// AtLeast reports whether p is at least as severe as min.
func (p Priority) AtLeast(min Priority) bool { return p <= min }

// MarshalText implements encoding.TextMarshaler.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Alert is one rule match, in Falco's JSON output format.
type Alert struct {
	Time         time.Time      `json:"time"`
	Rule         string         `json:"rule"`
	Priority     Priority       `json:"priority"`
	Source       string         `json:"source"`
	Hostname     string         `json:"hostname"`
	Tags         []string       `json:"tags"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	UUID         string         `json:"uuid"`
}
