package destination

import (
	"fmt"
	"time"
)

// ParseTimeout parses the timeout setting of a destination block: empty
// keeps def, anything but a positive duration is an error.
func ParseTimeout(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.ParseDuration(s)
	if err != nil || t <= 0 {
		return 0, fmt.Errorf("timeout %q is not a positive duration such as \"10s\"", s)
	}
	return t, nil
}
