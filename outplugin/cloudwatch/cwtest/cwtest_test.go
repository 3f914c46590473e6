package cwtest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
)

// TestServerEnforcesLimits sends requests that break each PutLogEvents
// limit through the real SDK and expects the server to refuse them.
func TestServerEnforcesLimits(t *testing.T) {
	srv, err := cwtest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := cloudwatchlogs.New(cloudwatchlogs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:     aws.NopRetryer{},
	})
	ctx := context.Background()
	g, s := "/test", "s"
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &g}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &g, LogStreamName: &s}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	ev := func(ts int64, msg string) types.InputLogEvent {
		return types.InputLogEvent{Timestamp: aws.Int64(ts), Message: aws.String(msg)}
	}
	many := func(n, size int) []types.InputLogEvent {
		out := make([]types.InputLogEvent, n)
		for i := range out {
			out[i] = ev(now, strings.Repeat("x", size))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		evs  []types.InputLogEvent
		ok   bool
	}{
		{"10000 events", many(10000, 10), true},
		{"10001 events", many(10001, 10), false},
		{"exactly 1 MiB", many(4, 1048576/4-26), true},
		{"1 MiB + 1", append(many(3, 1048576/4-26), ev(now, strings.Repeat("x", 1048576/4-25))), false},
		{"unsorted", []types.InputLogEvent{ev(now, "b"), ev(now-1, "a")}, false},
		{"span 24h", []types.InputLogEvent{ev(now-24*3600*1000, "a"), ev(now, "b")}, true},
		{"span over 24h", []types.InputLogEvent{ev(now-24*3600*1000-1, "a"), ev(now, "b")}, false},
	} {
		_, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: tc.evs})
		var ae smithy.APIError
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && (!errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterException"):
			t.Errorf("%s: got %v, want InvalidParameterException", tc.name, err)
		}
	}
	if n := len(srv.Rejected()); n != 4 {
		t.Errorf("server counted %d rejected requests, want 4", n)
	}

	// Too-old and too-new events are refused individually.
	day := int64(24 * 3600 * 1000)
	out, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{
		ev(now-14*day-60000, "old"), ev(now-14*day+3600000, "ok1"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := out.RejectedLogEventsInfo; r == nil || aws.ToInt32(r.TooOldLogEventEndIndex) != 1 || r.TooNewLogEventStartIndex != nil {
		t.Errorf("rejected info = %+v", r)
	}
	out, err = c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{
		ev(now, "ok2"), ev(now+3*3600*1000, "new"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := out.RejectedLogEventsInfo; r == nil || aws.ToInt32(r.TooNewLogEventStartIndex) != 1 || r.TooOldLogEventEndIndex != nil {
		t.Errorf("rejected info = %+v", r)
	}
	evs := srv.Events(g, s)
	if n := len(evs); n < 2 || evs[n-2].Message != "ok1" || evs[n-1].Message != "ok2" {
		t.Errorf("stored tail = %+v", evs[max(0, n-2):])
	}

	// A missing stream is ResourceNotFoundException.
	missing := "nope"
	_, err = c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &g, LogStreamName: &missing, LogEvents: many(1, 1)})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("missing stream: %v", err)
	}
}
