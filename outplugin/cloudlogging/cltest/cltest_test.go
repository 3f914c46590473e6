package cltest_test

import (
	"context"
	"strings"
	"testing"

	logging "cloud.google.com/go/logging/apiv2"
	"cloud.google.com/go/logging/apiv2/loggingpb"
	"github.com/googleapis/gax-go/v2"
	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging/cltest"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestServerEnforcesLimits sends requests breaking each limit through the
// real client and expects the server to refuse them.
func TestServerEnforcesLimits(t *testing.T) {
	srv, err := cltest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	c, err := logging.NewClient(ctx, option.WithEndpoint(srv.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := &monitoredres.MonitoredResource{Type: "global", Labels: map[string]string{"project_id": "p"}}
	entry := func(payload string, labels map[string]string) *loggingpb.LogEntry {
		return &loggingpb.LogEntry{
			LogName: "projects/p/logs/test", Resource: res, Timestamp: timestamppb.Now(), Labels: labels,
			Payload: &loggingpb.LogEntry_JsonPayload{JsonPayload: &structpb.Struct{Fields: map[string]*structpb.Value{"m": structpb.NewStringValue(payload)}}},
		}
	}
	many := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[strings.Repeat("k", i+1)] = "v"
		}
		return m
	}
	noRetry := gax.WithRetry(func() gax.Retryer { return nil })
	for _, tc := range []struct {
		name    string
		entries []*loggingpb.LogEntry
		ok      bool
	}{
		{"small", []*loggingpb.LogEntry{entry("x", nil)}, true},
		{"entry just under 256 KiB", []*loggingpb.LogEntry{entry(strings.Repeat("x", 256*1024-200), nil)}, true},
		{"entry over 256 KiB", []*loggingpb.LogEntry{entry(strings.Repeat("x", 256*1024), nil)}, false},
		{"request over 10 MB", func() []*loggingpb.LogEntry {
			var es []*loggingpb.LogEntry
			for range 41 {
				es = append(es, entry(strings.Repeat("y", 250*1024), nil))
			}
			return es
		}(), false},
		{"64 labels", []*loggingpb.LogEntry{entry("x", many(64))}, true},
		{"65 labels", []*loggingpb.LogEntry{entry("x", many(65))}, false},
		{"label value over 64 KiB", []*loggingpb.LogEntry{entry("x", map[string]string{"k": strings.Repeat("v", 64*1024+1)})}, false},
		{"bad log name", []*loggingpb.LogEntry{func() *loggingpb.LogEntry { e := entry("x", nil); e.LogName = "logs/x"; return e }()}, false},
		{"k8s resource without pod", []*loggingpb.LogEntry{func() *loggingpb.LogEntry {
			e := entry("x", nil)
			e.Resource = &monitoredres.MonitoredResource{Type: "k8s_container", Labels: map[string]string{"project_id": "p"}}
			return e
		}()}, false},
	} {
		_, err := c.WriteLogEntries(ctx, &loggingpb.WriteLogEntriesRequest{Entries: tc.entries}, noRetry)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if !tc.ok && status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: code %v, want InvalidArgument", tc.name, status.Code(err))
		}
	}
	// Partial success writes the valid entries and names the invalid ones.
	_, err = c.WriteLogEntries(ctx, &loggingpb.WriteLogEntriesRequest{PartialSuccess: true, Entries: []*loggingpb.LogEntry{
		entry("good", nil), entry(strings.Repeat("x", 256*1024), nil), entry("good too", nil),
	}}, noRetry)
	st, _ := status.FromError(err)
	var bad map[int32]bool
	for _, d := range st.Details() {
		if pe, ok := d.(*loggingpb.WriteLogEntriesPartialErrors); ok {
			bad = map[int32]bool{}
			for i := range pe.LogEntryErrors {
				bad[i] = true
			}
		}
	}
	if len(bad) != 1 || !bad[1] {
		t.Errorf("partial errors %v, want entry 1", bad)
	}
	if n := srv.Accepted(); n != 5 {
		t.Errorf("accepted %d entries, want 5", n)
	}
	srv.Inject(codes.Unavailable)
	if _, err := c.WriteLogEntries(ctx, &loggingpb.WriteLogEntriesRequest{Entries: []*loggingpb.LogEntry{entry("x", nil)}}, noRetry); status.Code(err) != codes.Unavailable {
		t.Errorf("injected fault: %v", err)
	}
}
