package estest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRefusesViolations sends requests that break the bulk protocol: each
// is refused with the status the services answer and recorded.
func TestRefusesViolations(t *testing.T) {
	s, err := New(Config{MaxContentLength: 1024, DataStreams: []string{"logs-*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	post := func(ct, body string) int {
		t.Helper()
		resp, err := http.Post(s.URL()+"/_bulk", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const nd = "application/x-ndjson"
	for _, tc := range []struct {
		ct, body string
		want     int
	}{
		{nd, `{"create":{"_index":"a","_id":"1"}}` + "\n" + `{"x":1}`, 400},                                // no final newline
		{"application/json", `{"create":{"_index":"a","_id":"1"}}` + "\n{}\n", 406},                        // content type
		{nd, `{"upsert":{"_index":"a"}}` + "\n{}\n", 400},                                                  // unknown action
		{nd, `{"create":{"_id":"1"}}` + "\n{}\n", 400},                                                     // no index
		{nd, `{"create":{"_index":"a"}}` + "\n", 400},                                                      // missing source
		{nd, `{"create":{"_index":"a"}}` + "\n[1]\n", 400},                                                 // source not an object
		{nd, `{"create":{"_index":"a"}}` + "\n" + `{"x":"` + strings.Repeat("y", 1100) + `"}` + "\n", 413}, // over the limit
	} {
		if got := post(tc.ct, tc.body); got != tc.want {
			t.Errorf("%.60q: status %d, want %d", tc.body, got, tc.want)
		}
	}
	if n := len(s.Rejected()); n != 6 {
		t.Errorf("%d requests recorded as rejected, want 6: %v", n, s.Rejected())
	}
}

// TestItemSemantics checks create/409, index, data streams, index names
// and mapping conflicts item by item.
func TestItemSemantics(t *testing.T) {
	s, err := New(Config{DataStreams: []string{"logs-*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := strings.Join([]string{
		`{"create":{"_index":"a","_id":"1"}}`, `{"n":1,"s":"x"}`,
		`{"create":{"_index":"a","_id":"1"}}`, `{"n":2}`, // 409
		`{"index":{"_index":"a","_id":"1"}}`, `{"n":3}`, // replaces
		`{"create":{"_index":"a","_id":"2"}}`, `{"n":"text"}`, // mapping conflict
		`{"index":{"_index":"logs-x"}}`, `{"@timestamp":"2026-01-01T00:00:00Z"}`, // data stream: create only
		`{"create":{"_index":"logs-x"}}`, `{"m":1}`, // data stream: @timestamp required
		`{"create":{"_index":"logs-x"}}`, `{"@timestamp":"2026-01-01T00:00:00Z"}`,
		`{"create":{"_index":"Bad"}}`, `{}`,
	}, "\n") + "\n"
	resp, err := http.Post(s.URL()+"/_bulk", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Errors bool
		Items  []map[string]struct{ Status int }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	want := []int{201, 409, 200, 400, 400, 400, 201, 400}
	if !out.Errors || len(out.Items) != len(want) {
		t.Fatalf("response %+v", out)
	}
	for i, it := range out.Items {
		for _, r := range it {
			if r.Status != want[i] {
				t.Errorf("item %d: status %d, want %d", i, r.Status, want[i])
			}
		}
	}
	if d := s.Docs("a"); len(d) != 1 || !bytes.Contains(d[0].Source, []byte(`"n":3`)) {
		t.Errorf("index a holds %v", d)
	}
}

// TestTopLevel compares the field scanner with encoding/json.
func TestTopLevel(t *testing.T) {
	for _, doc := range []string{
		`{}`, ` { "a" : 1 , "b":"x\"}" ,"c":{"d":[1,{"e":"]"}]},"f":[],"g":true,"h":null,"i\u00e9":-1.5e3 } `,
		`{"@timestamp":"2026","rule":"r","output_fields":{"k8s.ns.name":"prod"},"tags":["a","b"]}`,
	} {
		got, err := topLevel([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(m) {
			t.Fatalf("%s: %d fields, want %d (%v)", doc, len(got), len(m), got)
		}
		for _, f := range got {
			v, ok := m[f.name]
			if !ok || kindOf(bytes.TrimSpace(v)[0]) != f.kind {
				t.Errorf("%s: field %q kind %s", doc, f.name, f.kind)
			}
		}
	}
	if _, err := topLevel([]byte(`{"a":}`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

// TestFilterPath keeps only the fields filter_path names.
func TestFilterPath(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := `{"create":{"_index":"a","_id":"1"}}` + "\n{}\n" + `{"create":{"_index":"a","_id":"1"}}` + "\n{}\n"
	resp, err := http.Post(s.URL()+"/_bulk?filter_path=errors,items.*.status,items.*.error", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	items, _ := out["items"].([]any)
	if _, took := out["took"]; took || out["errors"] != true || len(items) != 2 {
		t.Fatalf("response %v", out)
	}
	first := items[0].(map[string]any)["create"].(map[string]any)
	second := items[1].(map[string]any)["create"].(map[string]any)
	if len(first) != 1 || first["status"] != 201.0 || len(second) != 2 || second["error"] == nil {
		t.Errorf("items %v %v", first, second)
	}
}
