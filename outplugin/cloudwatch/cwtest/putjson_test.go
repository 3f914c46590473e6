package cwtest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParsePut checks the fast parser against encoding/json.
func FuzzParsePut(f *testing.F) {
	f.Add([]byte(`{"logGroupName":"/g","logStreamName":"s","logEvents":[{"timestamp":1,"message":"a\"b\\u00e9\ud83d\ude00\n"}],"sequenceToken":null,"x":[1,2.5e3,{"y":true}]}`))
	f.Add([]byte(`{"logEvents":[]}`))
	f.Add([]byte(`{"logEvents":[{"message":"\ud800"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parsePut(b)
		var want struct {
			LogGroupName  string       `json:"logGroupName"`
			LogStreamName string       `json:"logStreamName"`
			LogEvents     []inputEvent `json:"logEvents"`
		}
		werr := json.Unmarshal(b, &want)
		if err != nil || werr != nil {
			// The fast parser may refuse odd input encoding/json accepts
			// (duplicate keys, case-insensitive names); it must never
			// accept what encoding/json refuses.
			if err == nil && werr != nil {
				if _, ok := werr.(*json.UnmarshalTypeError); !ok {
					t.Fatalf("accepted invalid JSON %q: %v", b, werr)
				}
			}
			return
		}
		// encoding/json matches keys case-insensitively and replaces
		// invalid UTF-8; the SDK sends neither, so compare only without them.
		lower := bytes.ToLower(b)
		for _, k := range []string{"logGroupName", "logStreamName", "logEvents", "timestamp", "message"} {
			if bytes.Count(lower, bytes.ToLower([]byte(k))) != bytes.Count(b, []byte(k)) {
				return
			}
		}
		if !utf8.Valid(b) {
			return
		}
		if got.LogGroupName != want.LogGroupName || got.LogStreamName != want.LogStreamName || len(got.LogEvents) != len(want.LogEvents) {
			t.Fatalf("mismatch on %q: %+v vs %+v", b, got, want)
		}
		for i := range got.LogEvents {
			if !reflect.DeepEqual(got.LogEvents[i], want.LogEvents[i]) {
				t.Fatalf("event %d differs on %q", i, b)
			}
		}
	})
}

func TestParsePutRandomMessages(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		msg := make([]rune, r.IntN(40))
		for i := range msg {
			msg[i] = rune(r.IntN(0x2000))
		}
		in := map[string]any{"logGroupName": "g", "logStreamName": "s", "logEvents": []map[string]any{{"timestamp": r.Int64N(1 << 45), "message": string(msg)}}}
		b, _ := json.Marshal(in)
		got, err := parsePut(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if *got.LogEvents[0].Message != string(msg) || *got.LogEvents[0].Timestamp != in["logEvents"].([]map[string]any)[0]["timestamp"] {
			t.Fatalf("mismatch for %s", b)
		}
	}
}
