package destination

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a CA with a server certificate for "siem.test" and a client
// certificate, written as PEM files.
type pki struct {
	dir                  string
	caFile               string
	clientCert, clientKy string
	server               tls.Certificate
	pool                 *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	der, key := issue(2, "siem.test", x509.ExtKeyUsageServerAuth)
	p.server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	der, key = issue(3, "nightjar", x509.ExtKeyUsageClientAuth)
	kder, _ := x509.MarshalECPrivateKey(key)
	p.clientCert = p.write(t, "client.pem", "CERTIFICATE", der)
	p.clientKy = p.write(t, "client.key", "EC PRIVATE KEY", kder)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(p.dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// serve accepts TLS connections demanding a client certificate from the
// CA and writes the client's certificate name to each.
func (p *pki) serve(t *testing.T) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert,
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
	p := newPKI(t)
	addr := p.serve(t)
	full := &TLS{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKy}

	c, err := full.ClientConfig("siem.test")
	if err != nil {
		t.Fatal(err)
	}
	if c.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", c.MinVersion)
	}
	if got, err := dial(addr, c); err != nil || got != "nightjar" {
		t.Errorf("mutual TLS: server saw %q, %v; want the client certificate nightjar", got, err)
	}

	// The dialled host must match the certificate unless server_name says
	// which name to verify.
	c, _ = full.ClientConfig("127.0.0.1")
	if _, err := dial(addr, c); err == nil {
		t.Error("a certificate for siem.test verified for 127.0.0.1")
	}
	named := *full
	named.ServerName = "siem.test"
	c, _ = named.ClientConfig("127.0.0.1")
	if c.ServerName != "siem.test" {
		t.Errorf("ServerName = %q, want server_name siem.test", c.ServerName)
	}
	if got, err := dial(addr, c); err != nil || got != "nightjar" {
		t.Errorf("server_name: %q, %v", got, err)
	}

	// Without the CA the server is not trusted, unless verification is off.
	noCA := &TLS{CertFile: p.clientCert, KeyFile: p.clientKy}
	c, _ = noCA.ClientConfig("siem.test")
	if _, err := dial(addr, c); err == nil {
		t.Error("a server from an unknown CA was trusted")
	}
	noCA.InsecureSkipVerify = true
	c, _ = noCA.ClientConfig("siem.test")
	if got, err := dial(addr, c); err != nil || got != "nightjar" {
		t.Errorf("insecure_skip_verify: %q, %v", got, err)
	}

	// Without a client certificate the server refuses the handshake.
	c, _ = (&TLS{CAFile: p.caFile}).ClientConfig("siem.test")
	if got, err := dial(addr, c); err == nil {
		t.Errorf("no client certificate, yet the server answered %q", got)
	}

	var nilTLS *TLS
	if c, err := nilTLS.ClientConfig("h"); err != nil || c.ServerName != "h" || c.InsecureSkipVerify || c.RootCAs != nil {
		t.Errorf("nil settings: %+v, %v; want defaults verifying h", c, err)
	}
}

func TestTLSClientConfigErrors(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		s    TLS
		want string
	}{
		{"missing CA", TLS{CAFile: filepath.Join(p.dir, "none.pem")}, "ca_file"},
		{"key not a certificate", TLS{CAFile: p.clientKy}, "holds no PEM certificate"},
		{"cert without key", TLS{CertFile: p.clientCert}, "both cert_file and key_file"},
		{"key without cert", TLS{KeyFile: p.clientKy}, "both cert_file and key_file"},
		{"key does not match", TLS{CertFile: p.clientCert, KeyFile: p.caFile}, "client certificate"},
	} {
		if _, err := tc.s.ClientConfig("siem.test"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
