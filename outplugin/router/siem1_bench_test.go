package router_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/nightjar-sec/nightjar/outplugin/splunkhec/hectest"
	"github.com/nightjar-sec/nightjar/outplugin/syslog/rsyslogtest"
	"github.com/nightjar-sec/nightjar/outplugin/webhook/whtest"
)

// The SIEM benchmarks flush 6,000-alert chunks through the router to each
// destination's test peer: a real rsyslogd (another process, so its CPU
// is not counted), and the in-process HEC and webhook servers (whose
// decoding and checking is counted).

func benchSyslog(b *testing.B, scheme string, extra string) {
	rs := rsyslogtest.Start(b)
	port := map[string]int{"udp": rs.UDP, "tcp": rs.TCP, "tls": rs.TLS}[scheme]
	tls := ""
	if scheme == "tls" {
		tls = fmt.Sprintf("tls { ca_file = %q }", rs.CAFile)
	}
	r := siemRouter(b, fmt.Sprintf(`destination "syslog" "s" {
  address = "%s://127.0.0.1:%d"
  %s
  %s
}
route "all" { to = [destination.syslog.s] }`, scheme, port, extra, tls))
	benchFlush(b, r)
}

func BenchmarkFlushSyslogUDP(b *testing.B) { benchSyslog(b, "udp", "") }
func BenchmarkFlushSyslogTCP(b *testing.B) { benchSyslog(b, "tcp", "") }
func BenchmarkFlushSyslogTLS(b *testing.B) { benchSyslog(b, "tls", "") }
func BenchmarkFlushSyslogCEF(b *testing.B) { benchSyslog(b, "tcp", `format = "cef"`) }

func benchHEC(b *testing.B, ack bool) {
	hec := hectest.New(siemToken)
	b.Cleanup(hec.Close)
	hec.Discard, hec.Ack = true, ack
	r := siemRouter(b, fmt.Sprintf(`destination "splunk_hec" "s" {
  url          = %q
  token        = env("SPLUNK_HEC_TOKEN")
  ack          = %t
  ack_interval = "10ms"
  fields       = ["proc.name", "k8s.ns.name"]
}
route "all" { to = [destination.splunk_hec.s] }`, hec.URL, ack))
	benchFlush(b, r)
	if rej := hec.Rejected(); len(rej) > 0 {
		b.Fatalf("collector rejected requests: %s", rej[0])
	}
}

func BenchmarkFlushSplunkHEC(b *testing.B)    { benchHEC(b, false) }
func BenchmarkFlushSplunkHECAck(b *testing.B) { benchHEC(b, true) }

func benchWebhook(b *testing.B, format string) {
	wh := whtest.New()
	b.Cleanup(wh.Close)
	wh.Discard, wh.Format = true, format
	r := siemRouter(b, fmt.Sprintf(`destination "webhook" "w" {
  url    = %q
  format = %q
}
route "all" { to = [destination.webhook.w] }`, wh.URL, format))
	benchFlush(b, r)
	if rej := wh.Rejected(); len(rej) > 0 {
		b.Fatalf("receiver rejected requests: %s", rej[0])
	}
}

func BenchmarkFlushWebhookNDJSON(b *testing.B) { benchWebhook(b, whtest.NDJSON) }
func BenchmarkFlushWebhookArray(b *testing.B)  { benchWebhook(b, whtest.JSONArray) }
func BenchmarkFlushWebhookFalco(b *testing.B)  { benchWebhook(b, whtest.Falco) }

// BenchmarkFlushSyslogTCPSink measures the syslog destination alone: the
// peer is an in-process listener that reads octet-counted frames and
// checks their lengths, where rsyslog's own speed bounds the TCP figure.
func BenchmarkFlushSyslogTCPSink(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	bad := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 1<<20)
				for {
					n, err := br.ReadString(' ')
					if err != nil {
						return
					}
					l, err := strconv.Atoi(n[:len(n)-1])
					if err == nil && l > 0 {
						_, err = br.Discard(l)
					}
					if err != nil || l <= 0 {
						select {
						case bad <- fmt.Errorf("bad frame %q: %v", n, err):
						default:
						}
						return
					}
				}
			}()
		}
	}()
	r := siemRouter(b, fmt.Sprintf(`destination "syslog" "s" { address = "tcp://%s" }
route "all" { to = [destination.syslog.s] }`, ln.Addr()))
	benchFlush(b, r)
	select {
	case err := <-bad:
		b.Fatal(err)
	default:
	}
}
