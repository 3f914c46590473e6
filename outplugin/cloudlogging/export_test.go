package cloudlogging

import (
	"log/slog"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"google.golang.org/protobuf/proto"
)

// EntrySizes returns the exact encoded size of a record's entry and the
// bound used to skip exact sizing.
func EntrySizes(r *record.Record) (exact, bound int) {
	d := &Destination{project: "p", resourceType: "auto", log: slog.New(slog.DiscardHandler), limiter: destination.NewLimiter(time.Minute), metrics: &destination.Metrics{}}
	d.logName, _ = destination.ParseTemplate("nightjar")
	e, _, err := d.entry("t", r)
	if err != nil {
		return 1, 0
	}
	return proto.Size(e), sizeBound(e, r)
}

// ToStruct exposes the payload conversion to tests.
var ToStruct = toStruct
