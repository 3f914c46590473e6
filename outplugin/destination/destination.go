// Package destination defines what a routing destination is: the Destination
// interface the router delivers batches to, the registry that maps a type
// name in routes.hcl to the package that builds it, per-destination
// counters, record templates and the retry backoff destinations share.
package destination

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// Destination delivers records to one configured sink.
//
// Send is called from the Fluent Bit flush and returns when every record of
// the batch is settled or the attempt has failed. It must be safe for
// concurrent use: Fluent Bit workers flush in parallel.
type Destination interface {
	// Send delivers b.Records and calls b.Ack for every record that needs no
	// further attempt: delivered, or dropped and counted. A non-nil error
	// means some records remain unacknowledged; wrap it with Permanent when
	// retrying cannot help.
	Send(ctx context.Context, b *Batch) error
	// Close releases the destination's clients.
	Close() error
}

// Batch is the part of one chunk that is bound for one destination.
type Batch struct {
	Tag     string
	Records []*record.Record
	acked   []bool
	nacked  atomic.Int64
}

// NewBatch returns a batch over records with none acknowledged.
func NewBatch(tag string, recs []*record.Record) *Batch {
	return &Batch{Tag: tag, Records: recs, acked: make([]bool, len(recs))}
}

// Ack marks Records[i] as settled. Send may call it from several goroutines
// for distinct i.
func (b *Batch) Ack(i int) {
	if !b.acked[i] {
		b.acked[i] = true
		b.nacked.Add(1)
	}
}

// Acked reports whether Records[i] is settled.
func (b *Batch) Acked(i int) bool { return b.acked[i] }

// Pending returns how many records are not yet settled.
func (b *Batch) Pending() int { return len(b.Records) - int(b.nacked.Load()) }

// Config is what a Factory gets to build a destination.
type Config struct {
	Name    string           // the block's second label
	Body    hcl.Body         // the block's body, to decode with gohcl
	Eval    *hcl.EvalContext // functions such as env()
	Logger  *slog.Logger     // already tagged with the destination
	Metrics *Metrics         // the destination's counters
}

// Factory builds a destination from its routes.hcl block. Problems are
// returned as diagnostics with the source range they concern.
type Factory func(cfg Config) (Destination, hcl.Diagnostics)

// Registry maps the type label of a destination block to its factory.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds a destination type. It panics on a duplicate type, which
// is a programming error.
func (r *Registry) Register(typ string, f Factory) {
	if _, dup := r.factories[typ]; dup {
		panic(fmt.Sprintf("destination type %q registered twice", typ))
	}
	r.factories[typ] = f
}

// Lookup returns the factory for typ.
func (r *Registry) Lookup(typ string) (Factory, bool) {
	f, ok := r.factories[typ]
	return f, ok
}

// Types returns the registered type names, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.factories))
	for t := range r.factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Metrics counts what happened to a destination's records.
type Metrics struct {
	Sent      atomic.Uint64 // records accepted by the service
	Batches   atomic.Uint64 // requests accepted by the service
	Retries   atomic.Uint64 // requests retried after a transient error
	Failures  atomic.Uint64 // requests that failed (transient or permanent)
	Dropped   atomic.Uint64 // records given up: rejected by the service or permanently failed
	Truncated atomic.Uint64 // records shortened to fit the service's size limit
	// CacheEvictions counts entries a destination dropped from its bounded
	// caches (such as the log groups known to exist).
	CacheEvictions atomic.Uint64
}

// Snapshot is a point-in-time copy of Metrics.
type Snapshot struct {
	Sent, Batches, Retries, Failures, Dropped, Truncated uint64
	CacheEvictions                                       uint64
}

// Snapshot returns the current counter values.
func (m *Metrics) Snapshot() Snapshot {
	return Snapshot{
		Sent: m.Sent.Load(), Batches: m.Batches.Load(), Retries: m.Retries.Load(), Failures: m.Failures.Load(),
		Dropped: m.Dropped.Load(), Truncated: m.Truncated.Load(), CacheEvictions: m.CacheEvictions.Load(),
	}
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying will not fix (bad credentials,
// missing permissions, invalid configuration).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Combine returns one error for several attempts: a transient error if there
// is one, since the records it left need a retry, else the first permanent
// error, else nil.
func Combine(errs ...error) error {
	var perm error
	for _, err := range errs {
		switch {
		case err == nil:
		case !IsPermanent(err):
			return err
		case perm == nil:
			perm = err
		}
	}
	return perm
}
