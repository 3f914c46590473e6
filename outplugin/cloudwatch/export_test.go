package cloudwatch

import "github.com/nightjar-sec/nightjar/outplugin/destination"

// SetKnownGroupsMax bounds the known-groups cache of d, a *Destination.
func SetKnownGroupsMax(d destination.Destination, n int) {
	c := d.(*Destination).groups
	c.mu.Lock()
	c.max = n
	c.mu.Unlock()
}

// KnownGroups returns how many groups d remembers.
func KnownGroups(d destination.Destination) int { return d.(*Destination).groups.len() }
