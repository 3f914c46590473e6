package tfschema

import "testing"

func BenchmarkLoadGoogle(b *testing.B) {
	for b.Loop() {
		if _, err := Load("../../../shared/terraform/schemas/google.json.gz"); err != nil {
			b.Fatal(err)
		}
	}
}
