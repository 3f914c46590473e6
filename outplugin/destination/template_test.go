package destination_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
)

func TestTemplate(t *testing.T) {
	chunk := recordtest.AppendRecord(nil, recordtest.EventTime, time.Unix(1, 0),
		recordtest.AppendAlert(nil, recordtest.Alert{Time: time.Unix(1, 0), Hostname: "node-3", Namespace: "prod", Priority: "Error"}))
	var r record.Record
	record.NewDecoder(chunk).Next(&r)
	for _, tc := range []struct {
		tmpl, want string
		ok         bool
	}{
		{"/nightjar/alerts", "/nightjar/alerts", true},
		{"{{ hostname }}", "node-3", true},
		{"{{hostname}}-{{ priority }}", "node-3-Error", true},
		{"/k8s/{{ output_fields.k8s.ns.name }}/{{ output_fields.proc.name }}", "/k8s/prod/bash", true},
		{"{{ output_fields.evt.time }}", "1000000000", true},
		{"x-{{ missing.field }}", "x-" + destination.Missing, false},
		{"/logs/{{ tag }}", "/logs/kube.app", true},
		{"{{ record.hostname }}", "node-3", true},
	} {
		tm, err := destination.ParseTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		if got := tm.Render("kube.app", &r); got != tc.want {
			t.Errorf("Render(%s) = %q, want %q", tc.tmpl, got, tc.want)
		}
		if _, ok := tm.Try("kube.app", &r); ok != tc.ok {
			t.Errorf("Try(%s) ok = %v", tc.tmpl, ok)
		}
	}
	for _, bad := range []string{"{{ hostname", "hostname }}", "{{ }}", "{{ a b }}"} {
		if _, err := destination.ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) succeeded", bad)
		}
	}
}

func TestBackoffHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := destination.Backoff{Base: time.Hour, Max: time.Hour, Attempts: 3}
	if err := b.Wait(ctx, 1); err == nil {
		t.Error("Wait ignored a cancelled context")
	}
}

func TestBatchAck(t *testing.T) {
	recs := make([]*record.Record, 3)
	b := destination.NewBatch("t", recs)
	b.Ack(1)
	b.Ack(1)
	if b.Pending() != 2 || !b.Acked(1) || b.Acked(0) {
		t.Errorf("pending %d", b.Pending())
	}
}

func TestCombine(t *testing.T) {
	perm := destination.Permanent(errors.New("denied"))
	temp := errors.New("unavailable")
	if err := destination.Combine(nil, perm, temp); err != temp {
		t.Errorf("Combine = %v, want the transient error", err)
	}
	if err := destination.Combine(perm, nil); err != perm {
		t.Errorf("Combine = %v, want the permanent error", err)
	}
	if err := destination.Combine(nil, nil); err != nil {
		t.Errorf("Combine = %v, want nil", err)
	}
}
