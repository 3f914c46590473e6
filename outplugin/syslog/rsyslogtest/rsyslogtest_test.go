package rsyslogtest_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/syslog/rsyslogtest"
)

// TestInputs sends one RFC 5424 message to each input and reads back what
// rsyslog parsed, so that a broken rsyslog setup shows here first.
func TestInputs(t *testing.T) {
	s := rsyslogtest.Start(t)
	msg := func(app string) string {
		return fmt.Sprintf(`<134>1 2026-11-26T18:00:00.123456Z node-1 %s - id [x@32473 a="b\]"] hello`, app)
	}
	u, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", s.UDP))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(u, msg("udp"))
	u.Close()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.TCP))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "%d %s", len(msg("tcp")), msg("tcp"))
	c.Close()
	pem, _ := os.ReadFile(s.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []struct {
		port int
		app  string
	}{{s.TLS, "tls"}, {s.MTLS, "mtls"}} {
		tc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", in.port), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(tc, "%d %s", len(msg(in.app)), msg(in.app))
		tc.Close()
	}
	ms := s.Wait(4, 10*time.Second)
	for _, m := range ms {
		if m.Input != m.AppName || m.Hostname != "node-1" || m.MsgID != "id" || m.StructuredData != `[x@32473 a="b\]"]` || m.Msg != "hello" || m.Facility != "local0" || m.Severity != "info" {
			t.Errorf("parsed %+v", m)
		}
	}
}
