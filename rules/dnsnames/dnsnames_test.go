package dnsnames_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/rules/dnsnames"
	"github.com/nightjar-sec/nightjar/rules/dnsnames/dnstest"
)

func server(t *testing.T) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRefresh(t *testing.T) {
	dns := server(t)
	a, b, v6 := netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("10.96.0.2"), netip.MustParseAddr("fd00::1")
	dns.Set("api.example.test", a, v6)
	c := dnsnames.New(dns.Resolver())
	c.Want("api.example.test")
	c.Want("missing.example.test")
	if c.Has("api.example.test", a) {
		t.Fatal("an address matches before any lookup")
	}
	c.Refresh(context.Background())
	for _, ip := range []netip.Addr{a, v6, netip.MustParseAddr("::ffff:10.96.0.1")} {
		if !c.Has("api.example.test", ip) {
			t.Errorf("%s is not an address of api.example.test", ip)
		}
	}
	if c.Has("api.example.test", b) || c.Has("missing.example.test", a) {
		t.Error("an address matches a name it is not of")
	}
	if n, ok := c.Lookup(a); !ok || n != "api.example.test" {
		t.Errorf("Lookup(%s) = %q, %v", a, n, ok)
	}
	if _, err := c.Addrs("missing.example.test"); err == nil {
		t.Error("no error for a name that does not resolve")
	}
	// The answer changes: the next refresh sees it.
	dns.Set("api.example.test", b)
	c.Refresh(context.Background())
	if c.Has("api.example.test", a) || !c.Has("api.example.test", b) {
		t.Error("refresh did not replace the addresses")
	}
	// A failed lookup keeps the last good addresses.
	dns.Set("api.example.test")
	c.Refresh(context.Background())
	if !c.Has("api.example.test", b) {
		t.Error("a failed lookup dropped the last good addresses")
	}
}

func TestRunResolvesOnItsPeriod(t *testing.T) {
	dns := server(t)
	a, b := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.20")
	dns.Set("svc.example.test", a)
	c := dnsnames.NewWithPeriods(dns.Resolver(), 20*time.Millisecond, 40*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	c.Want("svc.example.test") // added while running: resolved at once
	waitFor(t, func() bool { return c.Has("svc.example.test", a) })
	dns.Set("svc.example.test", b)
	waitFor(t, func() bool { return c.Has("svc.example.test", b) })
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	n := dns.Queries()
	time.Sleep(100 * time.Millisecond)
	if dns.Queries() != n {
		t.Error("lookups went on after Run returned")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
