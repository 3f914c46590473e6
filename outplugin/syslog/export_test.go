package syslog

import "github.com/nightjar-sec/nightjar/outplugin/record"

// Encode exposes the message encoding to the fuzz tests.
func Encode(d *Destination, tag string, r *record.Record) ([]byte, bool) {
	return d.encode(nil, tag, r)
}
