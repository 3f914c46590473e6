package delivery

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nightjar-sec/nightjar/daemon/config"
	"github.com/nightjar-sec/nightjar/daemon/ratelimit"
	"github.com/nightjar-sec/nightjar/daemon/telemetry"
	"github.com/nightjar-sec/nightjar/internal/alert"
)

// router accepts forward messages, records each entry's record and acks.
type router struct {
	mu      sync.Mutex
	records []map[string]any
}

func startRouter(t *testing.T, path string) *router {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &router{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				dec := msgpack.NewDecoder(bufio.NewReader(c))
				for {
					var msg []msgpack.RawMessage
					if err := dec.Decode(&msg); err != nil || len(msg) != 3 {
						return
					}
					var packed []byte
					var opts map[string]any
					if msgpack.Unmarshal(msg[1], &packed) != nil || msgpack.Unmarshal(msg[2], &opts) != nil {
						return
					}
					ed := msgpack.NewDecoder(bytes.NewReader(packed))
					for {
						// [EventTime (ext 0, which the library does not know), record]
						if n, err := ed.DecodeArrayLen(); err != nil || n != 2 {
							break
						}
						if _, err := ed.DecodeRaw(); err != nil {
							break
						}
						rec, err := ed.DecodeMap()
						if err != nil {
							break
						}
						r.mu.Lock()
						r.records = append(r.records, rec)
						r.mu.Unlock()
					}
					ack, _ := msgpack.Marshal(map[string]any{"ack": opts["chunk"]})
					c.Write(ack)
				}
			}()
		}
	}()
	return r
}

func TestDeliveryFromConfig(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	alerts := filepath.Join(dir, "alerts.json")
	rt := startRouter(t, sock)
	src := fmt.Sprintf(`
hostname = "node-7"
append_output = { "cluster" = "c1" }
rate_limit {
  rate  = 0
  rule "Noisy" {
    rate  = 0.001
    burst = 2
  }
}
dedup {
  enabled = true
}
file_output {
  enabled = true
  path    = %q
}
forward_output {
  enabled = true
  address = "unix://%s"
  spool {
    dir = %q
  }
}
health {
  drop_alert_threshold = 10
}
`, alerts, sock, filepath.Join(dir, "spool"))
	cfg, err := config.Parse([]byte(src), "test.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stdout.Enabled {
		t.Fatal("stdout enabled alongside other outputs")
	}
	m := telemetry.New(telemetry.Options{})
	d, err := New(cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(rule string, i int) *alert.Alert {
		return &alert.Alert{Time: time.Now(), Rule: rule, Priority: alert.PriorityWarning, Source: "syscall",
			OutputFields: map[string]any{"proc.pid": int64(i), "container.id": "host"}}
	}
	for i := range 5 {
		d.Send(mk("Noisy", i)) // 2 pass, 3 rate limited
	}
	for i := range 3 {
		d.Send(mk("Quiet", i)) // all pass
	}
	d.Send(mk("Quiet", 0)) // duplicate of the first Quiet
	d.KernelDrops(100)     // first observation: baseline
	d.KernelDrops(150)     // 50 ≥ 10: a drop alert
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// 2 Noisy + 3 Quiet + drop alert + suppression summary.
	b, err := os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	var got []alert.Alert
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var a alert.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	count := map[string]int{}
	uuids := map[string]bool{}
	for _, a := range got {
		count[a.Rule]++
		if a.UUID == "" || uuids[a.UUID] {
			t.Errorf("alert %q has a missing or repeated uuid %q", a.Rule, a.UUID)
		}
		uuids[a.UUID] = true
		if a.Hostname != "node-7" || a.OutputFields["cluster"] != "c1" {
			t.Errorf("alert %q: hostname %q cluster %v", a.Rule, a.Hostname, a.OutputFields["cluster"])
		}
	}
	if count["Noisy"] != 2 || count["Quiet"] != 3 || count[telemetry.DropRule] != 1 || count[ratelimit.SummaryRule] != 1 {
		t.Fatalf("file output got %v", count)
	}
	rt.mu.Lock()
	nfwd := len(rt.records)
	rt.mu.Unlock()
	if nfwd != len(got) {
		t.Fatalf("router got %d alerts, file %d", nfwd, len(got))
	}
	st := d.Stats()
	if st["forward"].Delivered != uint64(len(got)) || st["file"].Delivered != uint64(len(got)) || st["forward"].Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}
