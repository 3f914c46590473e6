package whtest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/outplugin/webhook/whtest"
)

// TestRefuses checks that the receiver refuses what does not match its
// expectations.
func TestRefuses(t *testing.T) {
	for _, tc := range []struct {
		format, ctype, body string
		status              int
	}{
		{whtest.JSON, "application/json", `{"a":1}`, 200},
		{whtest.JSON, "text/plain", `{"a":1}`, 415},
		{whtest.JSON, "application/json", `[{"a":1}]`, 400},
		{whtest.JSONArray, "application/json", `[{"a":1},{"b":2}]`, 200},
		{whtest.JSONArray, "application/json", `[]`, 400},
		{whtest.NDJSON, "application/x-ndjson", "{\"a\":1}\n{\"b\":2}\n", 200},
		{whtest.NDJSON, "application/x-ndjson", "{\"a\":1}\n{\"b\":2}", 400},
		{whtest.NDJSON, "application/x-ndjson", "{\"a\":1}\n\n", 400},
		{whtest.Falco, "application/json", `{"rule":"r","output":"o","priority":"Notice","time":"2026-11-26T18:00:00.1Z","output_fields":{}}`, 200},
		{whtest.Falco, "application/json", `{"rule":"r","output":"o","priority":"Loud","time":"2026-11-26T18:00:00.1Z"}`, 400},
		{whtest.Falco, "application/json", `{"rule":"r","output":"o","priority":"Notice","time":12}`, 400},
	} {
		s := whtest.New()
		s.Format = tc.format
		s.MaxBodyBytes = 1000
		resp, err := http.Post(s.URL, tc.ctype, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %q: HTTP %d, want %d", tc.format, tc.body, resp.StatusCode, tc.status)
		}
		if tc.status == 200 && s.Count() == 0 {
			t.Errorf("%s: nothing kept", tc.format)
		}
		if tc.status == 200 {
			resp, err = http.Post(s.URL, tc.ctype, strings.NewReader(strings.Repeat(" ", 1001)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 413 {
				t.Errorf("oversized body: HTTP %d", resp.StatusCode)
			}
			resp.Body.Close()
		}
		s.Close()
	}
}
