package hectest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/outplugin/splunkhec/hectest"
)

type answer struct {
	Text    string `json:"text"`
	Code    int    `json:"code"`
	Invalid *int   `json:"invalid-event-number"`
	AckID   *int64 `json:"ackId"`
}

func post(t *testing.T, s *hectest.Server, path, auth, channel, body string) (int, answer) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if channel != "" {
		req.Header.Set("X-Splunk-Request-Channel", channel)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a
}

// TestProtocol checks that the server refuses what Splunk refuses.
func TestProtocol(t *testing.T) {
	s := hectest.New("tok")
	defer s.Close()
	s.MaxContentLength = 1000
	const ev = `{"event":{"a":1},"time":1.5}`
	for _, tc := range []struct {
		name, auth, body string
		status, code     int
		invalid          int
	}{
		{"no token", "", ev, 401, 2, -1},
		{"basic auth", "Basic x", ev, 401, 3, -1},
		{"wrong token", "Splunk nope", ev, 403, 4, -1},
		{"empty", "Splunk tok", "", 400, 5, -1},
		{"no event", "Splunk tok", ev + `{"time":1}`, 400, 12, 1},
		{"blank event", "Splunk tok", `{"event":""}`, 400, 13, 0},
		{"bad index", "Splunk tok", ev + ev + `{"event":1,"index":"secret"}`, 400, 7, 2},
		{"nested field", "Splunk tok", `{"event":1,"fields":{"a":{"b":1}}}`, 400, 15, 0},
		{"unknown key", "Splunk tok", `{"event":1,"sauce":1}`, 400, 6, 0},
		{"fields not an object", "Splunk tok", `{"event":1,"fields":"x"}`, 400, 15, 0},
		{"host not a string", "Splunk tok", `{"event":1,"host":5}`, 400, 6, 0},
		{"time not a number", "Splunk tok", `{"event":1,"time":"soon"}`, 400, 6, 0},
		{"not json", "Splunk tok", ev + `{"event":`, 400, 6, 1},
		{"too large", "Splunk tok", strings.Repeat(ev, 40), 413, 413, -1},
		{"ok", "Splunk tok", ev + "\n" + ev, 200, 0, -1},
	} {
		status, a := post(t, s, "/services/collector/event", tc.auth, "", tc.body)
		if status != tc.status || a.Code != tc.code || (tc.invalid >= 0) != (a.Invalid != nil) || a.Invalid != nil && *a.Invalid != tc.invalid {
			t.Errorf("%s: HTTP %d %+v, want %d code %d invalid %d", tc.name, status, a, tc.status, tc.code, tc.invalid)
		}
	}
	// Events before an invalid one are indexed: 1 + 2 + 1, then 2.
	if n := len(s.Events()); n != 6 {
		t.Errorf("%d events indexed, want 6", n)
	}
}

// TestAckFlow: with acknowledgement on, a channel is required and ackIds
// turn true after AckPolls queries.
func TestAckFlow(t *testing.T) {
	s := hectest.New("tok")
	defer s.Close()
	s.Ack, s.AckPolls = true, 1
	const ch = "0f6a3b3e-2c4d-4b8a-9f1e-5d6c7b8a9e0f"
	if st, a := post(t, s, "/services/collector/event", "Splunk tok", "", `{"event":1}`); st != 400 || a.Code != 10 {
		t.Errorf("without channel: %d %+v", st, a)
	}
	if st, a := post(t, s, "/services/collector/event", "Splunk tok", "nope", `{"event":1}`); st != 400 || a.Code != 11 {
		t.Errorf("bad channel: %d %+v", st, a)
	}
	st, a := post(t, s, "/services/collector/event", "Splunk tok", ch, `{"event":1}`)
	if st != 200 || a.AckID == nil || *a.AckID != 0 {
		t.Fatalf("post: %d %+v", st, a)
	}
	poll := func() map[string]bool {
		req, _ := http.NewRequest("POST", s.URL+"/services/collector/ack", strings.NewReader(`{"acks":[0,7]}`))
		req.Header.Set("Authorization", "Splunk tok")
		req.Header.Set("X-Splunk-Request-Channel", ch)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Acks map[string]bool }
		json.NewDecoder(resp.Body).Decode(&out)
		return out.Acks
	}
	if got := poll(); got["0"] || got["7"] || len(got) != 2 {
		t.Errorf("first poll %v, want both false", got)
	}
	if got := poll(); !got["0"] || got["7"] {
		t.Errorf("second poll %v, want 0 true, 7 false", got)
	}
}
