// Package desttest holds what the tests of destination packages share:
// certificates for TLS peers, and checks that routes.hcl errors name the
// file, line and column they concern.
package desttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/routes"
)

// Certs names the PEM files WriteCerts writes.
type Certs struct {
	CA                    string // ca.pem, which signed the others
	ServerCert, ServerKey string // server.pem and server.key, for 127.0.0.1 and localhost
	ClientCert, ClientKey string // client.pem and client.key, for client authentication
}

// WriteCerts writes into dir a CA, a server certificate and a client
// certificate signed by it, valid from an hour ago for a day.
func WriteCerts(dir string) (Certs, error) {
	path := func(name string) string { return filepath.Join(dir, name) }
	c := Certs{
		CA:         path("ca.pem"),
		ServerCert: path("server.pem"), ServerKey: path("server.key"),
		ClientCert: path("client.pem"), ClientKey: path("client.key"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Certs{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nightjar test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Certs{}, err
	}
	if err := writePEM(c.CA, "CERTIFICATE", caDER); err != nil {
		return Certs{}, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Certs{}, err
	}
	leaf := func(cert, key string, serial int64, usage x509.ExtKeyUsage) error {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: strings.TrimSuffix(filepath.Base(cert), ".pem")},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return err
		}
		if err := writePEM(cert, "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(key, "EC PRIVATE KEY", kder)
	}
	if err := leaf(c.ServerCert, c.ServerKey, 2, x509.ExtKeyUsageServerAuth); err != nil {
		return Certs{}, err
	}
	if err := leaf(c.ClientCert, c.ClientKey, 3, x509.ExtKeyUsageClientAuth); err != nil {
		return Certs{}, err
	}
	return c, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// ConfigErrors loads each testdata/errors/*.hcl file with opts, in a
// subtest named for the file. The first line of a file is
// "# want: <line>:<col> <text>": loading must fail with an error naming
// that position of the file and containing text. ConfigErrors fails the
// test when there are fewer than min files; it returns each file's error.
func ConfigErrors(t *testing.T, opts routes.Options, min int) map[string]error {
	t.Helper()
	files, _ := filepath.Glob("testdata/errors/*.hcl")
	if len(files) < min {
		t.Fatalf("%d error cases in testdata/errors, want at least %d", len(files), min)
	}
	errs := map[string]error{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(src), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatal(`first line is not "# want: <line>:<col> <text>"`)
			}
			pos, text, _ := strings.Cut(want, " ")
			_, err = routes.Load(f, opts)
			if err == nil {
				t.Fatal("loaded without error")
			}
			errs[f] = err
			if !strings.Contains(err.Error(), f+":"+pos+":") || !strings.Contains(err.Error(), text) {
				t.Errorf("error %q\nwant position %s:%s and text %q", err, f, pos, text)
			}
		})
	}
	return errs
}

// FuzzConfig fuzzes routes.Parse with opts, seeded with the files of
// testdata/errors and seeds: parsing must not panic, and every error must
// name its position in the file.
func FuzzConfig(f *testing.F, opts routes.Options, seeds ...string) {
	files, _ := filepath.Glob("testdata/errors/*.hcl")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := routes.Parse(src, "fuzz.hcl", opts)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.hcl:") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		cfg.Close()
	})
}
