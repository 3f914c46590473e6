package router

import (
	"bytes"
	"testing"
	"time"
)

// TestStateRoundTrip encodes and decodes a state, dropping the bits of a
// destination that is no longer configured and placing the others by ID.
func TestStateRoundTrip(t *testing.T) {
	w := &store{ids: []string{"cloudwatch.a", "cloud_logging.b", "syslog.c"}}
	d := &delivery{created: time.Unix(1764180000, 123), size: 4242, bits: make([][]uint64, 3)}
	d.settle(0, 3)
	d.settle(1, 64)
	d.settle(1, 200)
	d.settle(2, 1)
	data := w.encode(7, d)

	r := &store{ids: []string{"cloud_logging.b", "cloudwatch.a"}} // reordered, syslog.c gone
	got, err := r.decode(7, data)
	if err != nil {
		t.Fatal(err)
	}
	if !got.created.Equal(d.created) || got.size != 4242 {
		t.Errorf("created %v size %d", got.created, got.size)
	}
	if !got.settled(1, 3) || !got.settled(0, 64) || !got.settled(0, 200) || got.settled(0, 3) || got.settled(1, 64) {
		t.Errorf("bits %v", got.bits)
	}
	if _, err := r.decode(8, data); err == nil {
		t.Error("state accepted under another key")
	}
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x01
		if _, err := r.decode(7, bad); err == nil {
			t.Fatalf("state with byte %d flipped accepted", i)
		}
	}
	for n := range len(data) {
		if _, err := r.decode(7, data[:n]); err == nil {
			t.Fatalf("state cut at %d bytes accepted", n)
		}
	}
}

// FuzzStateDecode: whatever a state file holds, decoding returns an error
// or a state, never a panic.
func FuzzStateDecode(f *testing.F) {
	w := &store{ids: []string{"cloudwatch.a", "cloud_logging.b"}}
	d := &delivery{created: time.Unix(1764180000, 0), size: 10, bits: make([][]uint64, 2)}
	d.settle(1, 70)
	f.Add(w.encode(1, d))
	f.Add([]byte("NJDS\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, err := w.decode(1, data); err == nil && len(got.bits) != 2 {
			t.Fatalf("decoded %d destinations, want 2", len(got.bits))
		}
	})
}
