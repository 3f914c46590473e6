package spool

import (
	"bytes"
	"testing"
)

// A record about the size of an encoded alert.
var benchRec = bytes.Repeat([]byte("x"), 400)

func BenchmarkAppend(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MaxBytes: 1 << 40, SegmentBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(int64(len(benchRec)))
	b.ResetTimer()
	for range b.N {
		if _, err := s.Append(benchRec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBatch appends 100 records per call, as the forward output
// does when it moves its memory queue to disk.
func BenchmarkAppendBatch(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MaxBytes: 1 << 40, SegmentBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = benchRec
	}
	b.SetBytes(int64(len(benchRec)))
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		if _, err := s.Append(batch[:min(len(batch), b.N-i)]...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead measures Peek+Commit in chunks of 1000 records.
func BenchmarkRead(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MaxBytes: 1 << 40, SegmentBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = benchRec
	}
	for i := 0; i < b.N; i += len(batch) {
		s.Append(batch[:min(len(batch), b.N-i)]...)
	}
	b.SetBytes(int64(len(benchRec)))
	b.ResetTimer()
	read := 0
	for read < b.N {
		recs, pos, err := s.Peek(1000)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(pos); err != nil {
			b.Fatal(err)
		}
		read += len(recs)
	}
}
