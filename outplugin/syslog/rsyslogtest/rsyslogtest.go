// Package rsyslogtest runs a real rsyslogd for tests: loopback UDP, TCP
// and TLS inputs (rsyslog-gnutls, with certificates made for the test),
// its own configuration, pid file and work directory in a temporary
// directory, and every message written as rsyslog parsed it, one JSON
// object of its properties per line.
package rsyslogtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
)

// Binary is Debian's rsyslog daemon; GnuTLS is its TLS network driver.
const (
	Binary = "/usr/sbin/rsyslogd"
	GnuTLS = "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so"
)

// Message is one message as rsyslog parsed it.
type Message struct {
	Input          string `json:"input"` // "udp", "tcp", "tls" or "mtls"
	Facility       string `json:"facility"`
	Severity       string `json:"severity"`
	Timestamp      string `json:"timestamp"` // TIMESTAMP, as rsyslog renders it in RFC 3339
	Hostname       string `json:"hostname"`
	AppName        string `json:"app_name"`
	ProcID         string `json:"procid"`
	MsgID          string `json:"msgid"`
	StructuredData string `json:"structured_data"`
	Msg            string `json:"msg"`
	Raw            string `json:"raw"`
}

// Server is a running rsyslogd.
type Server struct {
	UDP, TCP, TLS, MTLS int // ports; MTLS requires a client certificate

	// PEM files: the CA that signed the server and client certificates,
	// and the client certificate and key for MTLS.
	CAFile, ClientCert, ClientKey string

	dir  string
	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts rsyslogd. It fails the test, naming the Debian packages,
// when rsyslog or its GnuTLS driver is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("rsyslogd is required for the syslog tests (apt-get install rsyslog rsyslog-gnutls): %v", err)
	}
	if _, err := os.Stat(GnuTLS); err != nil {
		t.Fatalf("rsyslog's GnuTLS driver is required for the TLS tests (apt-get install rsyslog-gnutls): %v", err)
	}
	s := &Server{dir: t.TempDir(), t: t}
	if err := s.makeCerts(); err != nil {
		t.Fatal(err)
	}
	s.TCP, s.TLS, s.MTLS = freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "tcp")
	s.UDP = freePort(t, "udp")
	if err := os.MkdirAll(filepath.Join(s.dir, "work"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(config, s.dir, s.UDP, s.TCP, s.TLS, s.MTLS, s.path("ca.pem"), s.path("server.pem"), s.path("server.key"))
	if err := os.WriteFile(s.path("rsyslog.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// The configuration: every input into one ruleset that writes the parsed
// properties as JSON. Control characters are kept as they arrive (tabs
// included) so that tests see exactly what was sent.
const config = `
global(workDirectory="%[1]s/work" maxMessageSize="256k"
       parser.escapeControlCharactersOnReceive="off")
module(load="imudp")
module(load="imtcp" maxSessions="100")
template(name="props" type="list" option.jsonf="on") {
  property(outname="input" name="$!input" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}
ruleset(name="udp") { set $!input = "udp"; call out }
ruleset(name="tcp") { set $!input = "tcp"; call out }
ruleset(name="tls") { set $!input = "tls"; call out }
ruleset(name="mtls") { set $!input = "mtls"; call out }
ruleset(name="out") { action(type="omfile" file="%[1]s/messages.jsonl" template="props") }
input(type="imudp" address="127.0.0.1" port="%[2]d" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="%[3]d" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="%[4]d" ruleset="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"
      streamDriver.CAFile="%[6]s" streamDriver.CertFile="%[7]s" streamDriver.KeyFile="%[8]s")
input(type="imtcp" address="127.0.0.1" port="%[5]d" ruleset="mtls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid"
      streamDriver.CAFile="%[6]s" streamDriver.CertFile="%[7]s" streamDriver.KeyFile="%[8]s")
`

func (s *Server) path(name string) string { return filepath.Join(s.dir, name) }

func (s *Server) start() {
	s.t.Helper()
	os.Remove(s.path("rsyslogd.pid")) // left by a killed daemon
	cmd := exec.Command(Binary, "-n", "-f", s.path("rsyslog.conf"), "-i", s.path("rsyslogd.pid"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start rsyslogd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	// rsyslog opens its inputs after parsing the configuration; once every
	// TCP port answers, the UDP one is bound too.
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range []int{s.TCP, s.TLS, s.MTLS} {
		for {
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				s.t.Fatalf("rsyslogd exited: %s", out.String())
			default:
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("rsyslogd did not listen on %d: %s", p, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Stop kills rsyslogd, as a crash would; messages it already wrote stay
// readable. (A graceful shutdown can take seconds on a loaded machine.)
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts rsyslogd again on the same ports after Stop.
func (s *Server) Restart() { s.start() }

// Messages returns every message rsyslog wrote so far.
func (s *Server) Messages() []Message {
	s.t.Helper()
	f, err := os.Open(s.path("messages.jsonl"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	var out []Message
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			// rsyslog writes a line at a time; a partial last line is still
			// being written.
			break
		}
		out = append(out, m)
	}
	return out
}

// Wait returns the messages once at least n have arrived, failing the test
// if they do not within timeout.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := s.Messages()
		if len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("rsyslog wrote %d messages, want %d", len(m), n)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func freePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// makeCerts writes the certificates into the server's directory, where
// the configuration expects server.pem and server.key.
func (s *Server) makeCerts() error {
	c, err := desttest.WriteCerts(s.dir)
	s.CAFile, s.ClientCert, s.ClientKey = c.CA, c.ClientCert, c.ClientKey
	return err
}
