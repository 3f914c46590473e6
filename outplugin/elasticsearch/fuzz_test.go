package elasticsearch_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch"
	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch/estest"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/tinylib/msgp/msgp"
)

// FuzzConfig loads arbitrary destination blocks: a load either succeeds or
// fails with positioned errors, never panics.
func FuzzConfig(f *testing.F) {
	desttest.FuzzConfig(f, routes.Options{Registry: registry()},
		`destination "elasticsearch" "x" {
  urls        = ["https://a:9200", "https://b:9200"]
  index       = "sec-{{ output_fields.k8s.ns.name }}-%Y.%m.%d"
  id          = "{{ uuid }}"
  pipeline    = "p"
  api_key     = "k"
  timeout     = "5s"
}
route "r" { to = [destination.elasticsearch.x] }`,
		`destination "elasticsearch" "x" {
  urls        = ["http://es:9200"]
  data_stream = true
  aws {
    region            = "us-east-1"
    service           = "aoss"
    access_key_id     = "a"
    secret_access_key = "b"
  }
}
route "r" { to = [destination.elasticsearch.x] }`,
		`destination "elasticsearch" "x" {
  urls = ["https://es:9200"]
  tls {
    ca_file     = "/etc/nightjar/es-ca.pem"
    cert_file   = "/etc/nightjar/client.pem"
    key_file    = "/etc/nightjar/client.key"
    server_name = "es.example.com"
  }
}
route "r" { to = [destination.elasticsearch.x] }`,
	)
}

// FuzzEncode turns arbitrary chunks into _bulk bodies; every body must pass
// the test server's protocol checks with one create per record, and every
// source must be a JSON object with @timestamp.
func FuzzEncode(f *testing.F) {
	now := time.Unix(1764180000, 123456789)
	f.Add(recordtest.Chunk(recordtest.EventTime, 0, 3, now))
	f.Add(recordtest.Chunk(recordtest.Metadata, 7, 2, now))
	odd := msgp.AppendMapHeader(nil, 5)
	odd = msgp.AppendString(odd, "@timestamp")
	odd = msgp.AppendString(odd, "2026-01-01T00:00:00Z")
	odd = msgp.AppendString(odd, "uuid")
	odd = msgp.AppendString(odd, "a\"b\\c\n\x00\xff")
	odd = msgp.AppendString(odd, "bin")
	odd = msgp.AppendBytes(odd, []byte{0, 1, 2})
	odd = msgp.AppendString(odd, "f")
	odd = msgp.AppendFloat64(odd, 1.5)
	odd = msgp.AppendInt(odd, 42) // non-string key
	odd = msgp.AppendNil(odd)
	f.Add(recordtest.AppendRecord(nil, recordtest.IntTime, now, odd))
	f.Add(recordtest.AppendRecord(nil, recordtest.EventTime, now, msgp.AppendMapHeader(nil, 0)))

	var dests []destination.Destination
	for _, index := range []string{"nightjar-%Y.%m.%d", "X-{{ output_fields.k8s.ns.name }}-{{ uuid }}"} {
		d, _ := load(f, `urls = ["http://127.0.0.1:1"]
index = "`+strings.ToLower(index[:1])+index[1:]+`"`)
		dests = append(dests, d)
	}
	f.Fuzz(func(t *testing.T, chunk []byte) {
		for _, d := range dests {
			dec := record.NewDecoder(chunk)
			var recs []*record.Record
			for {
				r := new(record.Record)
				if !dec.Next(r) {
					break
				}
				recs = append(recs, r)
			}
			if len(recs) == 0 {
				return
			}
			body := elasticsearch.EncodeBulk(d, "tag", recs)
			n, err := estest.Validate(body)
			if err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			if n != len(recs) {
				t.Fatalf("%d operations for %d records", n, len(recs))
			}
			lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
			for i := 1; i < len(lines); i += 2 {
				var src map[string]any
				if err := json.Unmarshal(lines[i], &src); err != nil {
					t.Fatalf("source %q: %v", lines[i], err)
				}
				if _, ok := src["@timestamp"]; !ok {
					t.Fatalf("source without @timestamp: %s", lines[i])
				}
			}
		}
	})
}
