package kafka_test

import (
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/kafka"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
)

// FuzzConfig loads arbitrary destination blocks: a load either succeeds or
// fails with positioned errors, never panics.
func FuzzConfig(f *testing.F) {
	desttest.FuzzConfig(f, routes.Options{Registry: registry()},
		`destination "kafka" "x" {
  brokers     = ["127.0.0.1:1"]
  topic       = "alerts-{{ output_fields.k8s.ns.name }}"
  key         = "{{ output_fields.container.id }}"
  headers     = { rule = "{{ rule }}" }
  compression = "zstd"
  linger      = "5ms"
  sasl {
    mechanism = "SCRAM-SHA-512"
    username  = "u"
    password  = "p"
  }
}
route "r" { to = [destination.kafka.x] }`,
	)
}

// FuzzTopic checks that every rendered topic is cleaned into a name Kafka
// accepts, and that valid names pass unchanged.
func FuzzTopic(f *testing.F) {
	for _, s := range []string{"alerts", "alerts-prod", "a/b c", "", ".", "..", strings.Repeat("x", 300), "é-ü", "alerts.{{x}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := kafka.SanitizeTopic(s)
		if err := kafka.CheckTopic(got); err != nil {
			t.Fatalf("SanitizeTopic(%q) = %q: %v", s, got, err)
		}
		if kafka.CheckTopic(s) == nil && got != s {
			t.Fatalf("valid topic %q changed to %q", s, got)
		}
	})
}
