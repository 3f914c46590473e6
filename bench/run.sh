#!/usr/bin/env bash
# End-to-end benchmark of nightjar's capture: a tight openat loop (two
# generator processes) and an exec loop, each without and with the daemon
# as users run it (`nightjar run`, default rules) and with `nightjar trace`
# attached (output to /dev/null). Prints, per scenario, the
# median over BENCH_RUNS runs of: system calls/s without and with the
# tracer, events received/s, events dropped, tracer CPU seconds and peak RSS.
# Needs root, gcc and a built nightjar (make build).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-5}
RUNS=${BENCH_RUNS:-3}
NIGHTJAR=${NIGHTJAR:-build/nightjar}

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh loads eBPF programs and must run as root" >&2
	exit 1
fi
if [ ! -x "$NIGHTJAR" ]; then
	go build -o "$NIGHTJAR" ./daemon/cmd/nightjar
fi

work=$(mktemp -d)
tpid=
cleanup() {
	if [ -n "$tpid" ]; then kill -INT "$tpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

gcc -O2 -Wall -o "$work/openat_loop" bench/openat_loop.c
gcc -O2 -Wall -o "$work/exec_loop" bench/exec_loop.c
tick=$(getconf CLK_TCK)

# generate NAME COUNT: runs COUNT copies of generator NAME for SECS seconds
# and prints their summed calls/s and the longest run time.
generate() {
	local name=$1 count=$2 pids=() i
	for ((i = 0; i < count; i++)); do
		"$work/$name" "$SECS" >"$work/gen.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$work"/gen.* | awk '{ n += $1; if ($2 > s) s = $2 } END { printf "%.0f %.6f\n", n / s, s }'
	rm -f "$work"/gen.*
}

# start_trace ARGS...: starts nightjar trace in the background, waits until attached.
start_trace() {
	"$NIGHTJAR" trace "$@" >/dev/null 2>"$work/trace.err" &
	tpid=$!
	for _ in $(seq 100); do
		if grep -q capturing "$work/trace.err"; then return 0; fi
		if ! kill -0 "$tpid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "nightjar trace did not start:" >&2
	cat "$work/trace.err" >&2
	exit 1
}

# stop_trace: stops the tracer and sets STATS to "received dropped cpu_seconds peak_rss_kb".
stop_trace() {
	local cpu hwm received dropped
	cpu=$(awk -v t="$tick" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$tpid/stat")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$tpid/status")
	kill -INT "$tpid"
	wait "$tpid" || true
	tpid=
	received=$(sed -n 's/.*: \([0-9]*\) events received, \([0-9]*\) dropped.*/\1/p' "$work/trace.err")
	dropped=$(sed -n 's/.*: \([0-9]*\) events received, \([0-9]*\) dropped.*/\2/p' "$work/trace.err")
	if [ -z "$received" ]; then
		echo "nightjar trace printed no summary:" >&2
		cat "$work/trace.err" >&2
		exit 1
	fi
	STATS="$received $dropped $cpu $hwm"
}

# start_run ARGS...: starts `nightjar run` (what users run: the whole
# daemon with the default rules, alerts to /dev/null), waits until attached.
start_run() {
	printf 'stdout_output {\n  enabled = true\n}\nmetrics {\n  enabled = false\n}\n' >"$work/run.hcl"
	"$NIGHTJAR" run --config "$work/run.hcl" "$@" >/dev/null 2>"$work/run.err" &
	tpid=$!
	for _ in $(seq 300); do
		if grep -q 'nightjar running' "$work/run.err"; then return 0; fi
		if ! kill -0 "$tpid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "nightjar run did not start:" >&2
	cat "$work/run.err" >&2
	exit 1
}

# stop_run: stops the daemon and sets STATS as stop_trace does, from the
# daemon's last log line (events handled, kernel drops).
stop_run() {
	local cpu hwm received dropped
	cpu=$(awk -v t="$tick" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$tpid/stat")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$tpid/status")
	kill -INT "$tpid"
	wait "$tpid" || true
	tpid=
	received=$(sed -n 's/.*nightjar stopped.* events=\([0-9]*\).*/\1/p' "$work/run.err")
	dropped=$(sed -n 's/.*nightjar stopped.* kernel_drops=\([0-9]*\).*/\1/p' "$work/run.err")
	if [ -z "$received" ] || [ -z "$dropped" ]; then
		echo "nightjar run logged no summary:" >&2
		cat "$work/run.err" >&2
		exit 1
	fi
	STATS="$received $dropped $cpu $hwm"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# scenario LABEL GENERATOR COUNT TOOL ARGS...: TOOL is trace or run.
scenario() {
	local label=$1 gen=$2 count=$3 tool=$4 r base with secs
	shift 4
	: >"$work/rows"
	for ((r = 1; r <= RUNS; r++)); do
		read -r base _ < <(generate "$gen" "$count")
		"start_$tool" "$@"
		read -r with secs < <(generate "$gen" "$count")
		"stop_$tool"
		echo "$base $with $secs $STATS" | awk '{ printf "%d %d %.0f %d %.2f %.1f %.0f\n", $1, $2, $4 / $3, $5, $6, $7 / 1024, ($6 > 0 ? $4 / $6 : 0) }' >>"$work/rows"
		printf '  %s run %d: %s\n' "$label" "$r" "$(tail -1 "$work/rows")"
	done
	printf '%-38s' "$label"
	for col in 1 2 3 4 5 6 7; do
		printf ' %12s' "$(awk -v c=$col '{ print $c }' "$work/rows" | median)"
	done
	echo
}

echo "nightjar end-to-end benchmark: ${SECS}s per measurement, median of $RUNS runs, $(nproc) CPUs, kernel $(uname -r)"
echo "per run: calls/s without, calls/s with, events received/s, dropped, tracer CPU s, tracer peak RSS MB, events per tracer CPU second"
echo "(events per tracer CPU second is the rate one fully used core would sustain; the generators share the 2 CPUs with the tracer)"
printf '%-38s %12s %12s %12s %12s %12s %12s %12s\n' scenario "calls/s" "calls/s+trc" "events/s" dropped "cpu s" "rss MB" "ev/cpu-s"
scenario "openat x2, nightjar run (default rules)" openat_loop 2 run
scenario "exec loop, nightjar run (default rules)" exec_loop 1 run
scenario "openat x2, trace --type openat" openat_loop 2 trace --type openat
scenario "openat x2, trace --type openat --json" openat_loop 2 trace --type openat --json
scenario "openat x2, trace --count-only" openat_loop 2 trace --type openat --count-only
scenario "exec loop, trace (all types)" exec_loop 1 trace

start_trace
sleep 3
idle=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$tpid/status")
stop_trace
echo "idle tracer RSS (all types, 3 s after start): $idle MB"

# Alert latency: the real daemon with a forward output (require_ack) to a
# listener in the test process, a generator making 1,000 detected calls a
# second (opens of /etc/shadow); latency = the listener's receive time - the
# kernel's event time. Then the same with the daemon's parts assembled in the
# test process, the capture's reader wake-up policy varied (not a setting of
# the daemon), and the capture stage alone (1,000 and 20,000 calls/s). Medians over
# BENCH_RUNS runs of each go test benchmark; cpu-pressure-% is the share of
# the run in which runnable tasks waited for a CPU (other load on the machine).
echo
echo "alert latency, syscall to alert received from the daemon's forward output, 1,000 alerts/s (median of $RUNS runs)"
if ! go test -run '^$' -bench '^Benchmark(AlertLatency|AlertLatencyInProcess|CaptureLatency)$' -count "$RUNS" \
	./daemon/cmd/nightjar/ >"$work/latency.out" 2>&1; then
	cat "$work/latency.out" >&2
	echo "alert latency benchmark failed" >&2
	exit 1
fi
# go test -count exits 0 when a repeat of a benchmark fails; look for it.
if grep -q -- '--- FAIL' "$work/latency.out"; then
	cat "$work/latency.out" >&2
	echo "alert latency benchmark failed" >&2
	exit 1
fi
grep -E '^Benchmark' "$work/latency.out" | sed 's/^/  /'
# Median of every metric of every benchmark, as "name metric=value ...".
awk '/^Benchmark/ && $2 ~ /^[0-9]+$/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	if (!(name in seen)) { seen[name] = 1; order[++nn] = name }
	for (i = 3; i < NF; i += 2) {
		key = name SUBSEP $(i + 1)
		if (!(key in cnt)) { units[name] = units[name] " " $(i + 1) }
		v[key, ++cnt[key]] = $i
	}
}
END {
	for (k = 1; k <= nn; k++) {
		name = order[k]; line = sprintf("%-50s", name)
		split(substr(units[name], 2), us, " ")
		for (u = 1; u in us; u++) {
			if (us[u] == "ns/op") continue
			key = name SUBSEP us[u]; n = cnt[key]
			for (i = 1; i <= n; i++) a[i] = v[key, i]
			for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			line = line sprintf(" %s=%g", us[u], m)
		}
		print line
	}
}' "$work/latency.out"
