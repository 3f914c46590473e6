package destination

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLS is the tls block of a destination that connects over TLS.
type TLS struct {
	CAFile             string `hcl:"ca_file,optional"`              // PEM roots; the system's when empty
	CertFile           string `hcl:"cert_file,optional"`            // PEM client certificate
	KeyFile            string `hcl:"key_file,optional"`             // PEM key of CertFile
	ServerName         string `hcl:"server_name,optional"`          // name to verify instead of the dialled host
	InsecureSkipVerify bool   `hcl:"insecure_skip_verify,optional"` // accept any server certificate
}

// ClientConfig returns the client configuration s describes, verifying
// host unless server_name is set. An empty host leaves the name to the
// caller, as net/http derives it from the URL. A nil s gives the defaults.
func (s *TLS) ClientConfig(host string) (*tls.Config, error) {
	if s == nil {
		s = &TLS{}
	}
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.ServerName != "" {
		c.ServerName = s.ServerName
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", s.CAFile)
		}
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return nil, errors.New("set both cert_file and key_file for a client certificate, or neither")
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
