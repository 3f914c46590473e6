package destination_test

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
)

func TestHTTPClient(t *testing.T) {
	var followed int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed++
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := destination.HTTPClient(&destination.TLS{CAFile: ca, ServerName: "example.com"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Transport.(*http.Transport).MaxIdleConnsPerHost; n != 6 {
		t.Errorf("MaxIdleConnsPerHost = %d, want 6 for 3 requests in flight", n)
	}
	resp, err := c.Post(srv.URL+"/hook", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed != 0 {
		t.Errorf("status %d, redirect followed %d times; want 307 returned, not followed", resp.StatusCode, followed)
	}

	// Without the tls block the system roots do not know the test server.
	c, err = destination.HTTPClient(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("a server from an unknown CA was trusted")
	}
	if _, err := destination.HTTPClient(&destination.TLS{CertFile: ca}, 1); err == nil {
		t.Error("cert_file without key_file accepted")
	}
}
