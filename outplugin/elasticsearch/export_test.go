package elasticsearch

import (
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// EncodeBulk returns the _bulk body d would send for recs in one request.
func EncodeBulk(d destination.Destination, tag string, recs []*record.Record) []byte {
	es := d.(*Destination)
	enc, err := es.encode(tag, recs)
	if err != nil {
		panic(err)
	}
	var out []byte
	for i := range enc.items {
		out = append(out, enc.line(&enc.items[i])...)
	}
	return out
}

// Encode encodes recs as Send does, buffers pooled, and returns the body
// size.
func Encode(d destination.Destination, tag string, recs []*record.Record) int {
	es := d.(*Destination)
	enc, err := es.encode(tag, recs)
	if err != nil {
		panic(err)
	}
	n := 0
	for _, p := range enc.parts {
		n += len(p)
	}
	es.release(enc.bufs)
	return n
}
