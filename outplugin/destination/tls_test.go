package destination_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
)

// serve accepts TLS connections with the server certificate of c,
// demanding a client certificate from its CA, and writes the client's
// certificate name to each.
func serve(t *testing.T, c desttest.Certs) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(c.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() != nil {
					return
				}
				io.WriteString(c, tc.ConnectionState().PeerCertificates[0].Subject.CommonName)
			}()
		}
	}()
	return ln.Addr().String()
}

func certs(t *testing.T) desttest.Certs {
	t.Helper()
	c, err := desttest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dial(addr string, c *tls.Config) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	b, err := io.ReadAll(conn)
	return string(b), err
}

func TestTLSClientConfig(t *testing.T) {
	p := certs(t)
	addr := serve(t, p)
	full := &destination.TLS{CAFile: p.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey}

	c, err := full.ClientConfig("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if c.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", c.MinVersion)
	}
	if got, err := dial(addr, c); err != nil || got != "client" {
		t.Errorf("mutual TLS: server saw %q, %v; want the client certificate", got, err)
	}

	// The dialled host must match the certificate unless server_name says
	// which name to verify.
	c, _ = full.ClientConfig("siem.example.com")
	if _, err := dial(addr, c); err == nil {
		t.Error("a certificate for localhost verified for siem.example.com")
	}
	named := *full
	named.ServerName = "localhost"
	c, _ = named.ClientConfig("siem.example.com")
	if c.ServerName != "localhost" {
		t.Errorf("ServerName = %q, want server_name localhost", c.ServerName)
	}
	if got, err := dial(addr, c); err != nil || got != "client" {
		t.Errorf("server_name: %q, %v", got, err)
	}

	// Without the CA the server is not trusted, unless verification is off.
	noCA := &destination.TLS{CertFile: p.ClientCert, KeyFile: p.ClientKey}
	c, _ = noCA.ClientConfig("localhost")
	if _, err := dial(addr, c); err == nil {
		t.Error("a server from an unknown CA was trusted")
	}
	noCA.InsecureSkipVerify = true
	c, _ = noCA.ClientConfig("localhost")
	if got, err := dial(addr, c); err != nil || got != "client" {
		t.Errorf("insecure_skip_verify: %q, %v", got, err)
	}

	// Without a client certificate the server refuses the handshake.
	c, _ = (&destination.TLS{CAFile: p.CA}).ClientConfig("localhost")
	if got, err := dial(addr, c); err == nil {
		t.Errorf("no client certificate, yet the server answered %q", got)
	}

	var nilTLS *destination.TLS
	if c, err := nilTLS.ClientConfig("h"); err != nil || c.ServerName != "h" || c.InsecureSkipVerify || c.RootCAs != nil {
		t.Errorf("nil settings: %+v, %v; want defaults verifying h", c, err)
	}
}

func TestTLSClientConfigErrors(t *testing.T) {
	p := certs(t)
	dir := filepath.Dir(p.CA)
	for _, tc := range []struct {
		name string
		s    destination.TLS
		want string
	}{
		{"missing CA", destination.TLS{CAFile: filepath.Join(dir, "none.pem")}, "ca_file"},
		{"key not a certificate", destination.TLS{CAFile: p.ClientKey}, "holds no PEM certificate"},
		{"cert without key", destination.TLS{CertFile: p.ClientCert}, "both cert_file and key_file"},
		{"key without cert", destination.TLS{KeyFile: p.ClientKey}, "both cert_file and key_file"},
		{"key does not match", destination.TLS{CertFile: p.ClientCert, KeyFile: p.CA}, "client certificate"},
	} {
		if _, err := tc.s.ClientConfig("localhost"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
