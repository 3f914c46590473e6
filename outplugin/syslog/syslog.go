// Package syslog is the syslog destination: RFC 5424 messages over UDP
// (RFC 5426), TCP with octet counting or LF framing (RFC 6587) and TLS
// (RFC 5425), carrying the JSON alert, an ArcSight CEF line or a QRadar
// LEEF 2.0 line. Stream connections are checked before use and
// re-established on failure.
package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// Type is the destination type name in routes.hcl.
const Type = "syslog"

// Register adds the syslog type to reg.
func Register(reg *destination.Registry) { reg.Register(Type, New) }

// Message size defaults. RFC 5426 (UDP) asks receivers to take at least
// 480 octets over IPv4 and says they SHOULD take 2048; RFC 5425 (TLS) and
// RFC 6587 practice put the stream figure at 8192. A UDP datagram carries
// at most 65507 octets of payload over IPv4.
const (
	defaultUDPMax = 2048
	defaultTCPMax = 8192
	maxUDPPayload = 65507
	writeChunk    = 64 << 10 // bytes per stream write
)

type settings struct {
	Address         string           `hcl:"address"`
	Format          string           `hcl:"format,optional"`
	Framing         string           `hcl:"framing,optional"`
	Facility        string           `hcl:"facility,optional"`
	Hostname        hcl.Expression   `hcl:"hostname,optional"`
	AppName         hcl.Expression   `hcl:"app_name,optional"`
	MsgID           hcl.Expression   `hcl:"msgid,optional"`
	SDID            string           `hcl:"sd_id,optional"`
	Vendor          string           `hcl:"vendor,optional"`
	Product         string           `hcl:"product,optional"`
	ProductVersion  string           `hcl:"product_version,optional"`
	CustomFields    []string         `hcl:"custom_fields,optional"`
	LEEFDelimiter   *string          `hcl:"leef_delimiter,optional"`
	MaxMessageBytes int              `hcl:"max_message_bytes,optional"`
	Timeout         string           `hcl:"timeout,optional"`
	MaxAttempts     int              `hcl:"max_attempts,optional"`
	TLS             *destination.TLS `hcl:"tls,block"`
}

// Destination sends records to a syslog receiver.
type Destination struct {
	network  string // "udp", "tcp" or "tls"
	addr     string // host:port
	tls      *tls.Config
	format   Format
	octets   bool // octet-counting framing on streams, else LF
	facility int
	hostname *destination.Template
	appName  *destination.Template
	msgID    *destination.Template
	sdID     string

	vendor, product, productVersion string
	custom                          []customField
	leefDelim                       byte

	maxMsg  int
	timeout time.Duration
	backoff destination.Backoff
	log     *slog.Logger
	limiter *destination.Limiter
	metrics *destination.Metrics

	mu   sync.Mutex // one writer per connection; guards conn
	conn net.Conn
	raw  syscall.RawConn // of the TCP connection under conn, for liveness checks
}

var defaultCustom = []string{"output_fields.container.id", "output_fields.k8s.ns.name", "output_fields.k8s.pod.name", "output_fields.proc.cmdline", "tags", "priority"}

// New builds a syslog destination from its routes.hcl block.
func New(cfg destination.Config) (destination.Destination, hcl.Diagnostics) {
	var s settings
	diags := gohcl.DecodeBody(cfg.Body, cfg.Eval, &s)
	if diags.HasErrors() {
		return nil, diags
	}
	bad := func(name, summary, detail string) (destination.Destination, hcl.Diagnostics) {
		return nil, append(diags, destination.SettingError(cfg.Body, name, summary, detail))
	}
	d := &Destination{
		facility: facilities["local0"], sdID: "nightjar@32473",
		vendor: "nightjar", product: "nightjar", productVersion: "1",
		leefDelim: '^', timeout: 10 * time.Second, backoff: destination.DefaultBackoff(),
		log: cfg.Logger, limiter: destination.NewLimiter(time.Minute), metrics: cfg.Metrics,
	}
	u, err := url.Parse(s.Address)
	if err != nil || u.Host == "" || u.Path != "" && u.Path != "/" || u.User != nil || u.RawQuery != "" {
		return bad("address", "Invalid address", fmt.Sprintf("address %q must be udp://host:port, tcp://host:port or tls://host:port.", s.Address))
	}
	port := map[string]string{"udp": "514", "tcp": "514", "tls": "6514"}[u.Scheme]
	if port == "" {
		return bad("address", "Invalid address", fmt.Sprintf("address scheme %q: want udp, tcp or tls.", u.Scheme))
	}
	d.network = u.Scheme
	if u.Port() != "" {
		port = u.Port()
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return bad("address", "Invalid address", fmt.Sprintf("address %q: port must be 1-65535.", s.Address))
		}
	}
	d.addr = net.JoinHostPort(u.Hostname(), port)

	switch strings.ToLower(s.Format) {
	case "", "rfc5424":
		d.format = RFC5424
	case "cef":
		d.format = CEF
	case "leef":
		d.format = LEEF
	default:
		return bad("format", "Invalid format", fmt.Sprintf("format %q: want rfc5424, cef or leef.", s.Format))
	}
	switch s.Framing {
	case "", "octet_counting":
		d.octets = true
	case "lf":
		if d.network == "udp" {
			return bad("framing", "Invalid framing", "framing applies to tcp and tls; a UDP datagram is one message.")
		}
	default:
		return bad("framing", "Invalid framing", fmt.Sprintf("framing %q: want octet_counting or lf.", s.Framing))
	}
	if s.Facility != "" {
		f, ok := facilities[strings.ToLower(s.Facility)]
		if n, err := strconv.Atoi(s.Facility); err == nil && n >= 0 && n <= 23 {
			f, ok = n, true
		}
		if !ok {
			return bad("facility", "Invalid facility", fmt.Sprintf("facility %q: want a name such as local0, auth or daemon, or a number 0-23.", s.Facility))
		}
		d.facility = f
	}
	var dg hcl.Diagnostics
	if d.hostname, dg = destination.TemplateAttr(s.Hostname, cfg.Eval, "{{ hostname }}"); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if d.appName, dg = destination.TemplateAttr(s.AppName, cfg.Eval, "nightjar"); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if d.msgID, dg = destination.TemplateAttr(s.MsgID, cfg.Eval, "alert"); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if s.SDID != "" {
		if name, pen, ok := strings.Cut(s.SDID, "@"); !ok || name == "" || strings.Trim(pen, "0123456789.") != "" || pen == "" || len(s.SDID) > 32 || strings.ContainsAny(s.SDID, " =]\"") {
			return bad("sd_id", "Invalid sd_id", fmt.Sprintf("sd_id %q must be name@<private enterprise number>, at most 32 characters.", s.SDID))
		}
		d.sdID = s.SDID
	}
	if s.Vendor != "" {
		d.vendor = s.Vendor
	}
	if s.Product != "" {
		d.product = s.Product
	}
	if s.ProductVersion != "" {
		d.productVersion = s.ProductVersion
	}
	paths := defaultCustom
	if s.CustomFields != nil {
		paths = s.CustomFields
	}
	if d.format == CEF && len(paths) > 6 {
		return bad("custom_fields", "Too many custom_fields", "CEF has six custom string fields, cs1 to cs6.")
	}
	for _, p := range paths {
		label := strings.TrimPrefix(p, "output_fields.")
		if p == "" || strings.ContainsAny(label, " =|\\\t\r\n") {
			return bad("custom_fields", "Invalid custom_fields", fmt.Sprintf("%q is not a field path.", p))
		}
		c := customField{path: p, label: label}
		if of, ok := strings.CutPrefix(p, "output_fields."); ok {
			c.outputField = of
		}
		d.custom = append(d.custom, c)
	}
	if d.format == RFC5424 {
		d.custom = nil // carried by CEF and LEEF only
	}
	if s.LEEFDelimiter != nil {
		v := *s.LEEFDelimiter
		if len(v) != 1 || v[0] == '=' || v[0] == '\\' || v[0] == '|' || v[0] == '\n' || v[0] == '\r' || v[0] > 126 {
			return bad("leef_delimiter", "Invalid leef_delimiter", fmt.Sprintf("leef_delimiter %q must be one ASCII character other than '=', '\\', '|' and line breaks, such as \"^\" or \"\\t\".", v))
		}
		d.leefDelim = v[0]
	}
	d.maxMsg = defaultTCPMax
	limit := 1 << 30
	if d.network == "udp" {
		d.maxMsg, limit = defaultUDPMax, maxUDPPayload
	}
	if s.MaxMessageBytes != 0 {
		if s.MaxMessageBytes < 480 || s.MaxMessageBytes > limit {
			return bad("max_message_bytes", "Invalid max_message_bytes", fmt.Sprintf("max_message_bytes must be between 480 and %d for %s.", limit, d.network))
		}
		d.maxMsg = s.MaxMessageBytes
	}
	if d.timeout, err = destination.ParseTimeout(s.Timeout, d.timeout); err != nil {
		return bad("timeout", "Invalid timeout", err.Error()+".")
	}
	if s.MaxAttempts > 0 {
		d.backoff.Attempts = s.MaxAttempts
	}
	if s.TLS != nil && d.network != "tls" {
		return bad("address", "TLS settings without tls://", "A tls block needs an address of the form tls://host:port.")
	}
	if d.network == "tls" {
		if d.tls, err = s.TLS.ClientConfig(u.Hostname()); err != nil {
			return bad("tls", "Invalid tls block", err.Error())
		}
	}
	return d, diags
}

// Close implements destination.Destination.
func (d *Destination) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		err := d.conn.Close()
		d.conn = nil
		return err
	}
	return nil
}

// encode appends the framed syslog message for r, which arrived with
// Fluent Bit tag, to b, and reports whether it was truncated.
func (d *Destination) encode(b []byte, tag string, r *record.Record) ([]byte, bool) {
	start := len(b)
	if d.network != "udp" && d.octets {
		// Room for the length prefix, written once the length is known.
		b = append(b, "0000000000 "...)
	}
	msgStart := len(b)
	f := d.alertFields(r)
	sev, _ := alertSeverity(f.priority)
	h := header{pri: d.facility*8 + sev, ts: f.ts}
	if v, ok := d.msgID.Try(tag, r); ok {
		h.msgID = v
	}
	if v, ok := d.hostname.Try(tag, r); ok {
		h.hostname = v
	}
	if v, ok := d.appName.Try(tag, r); ok {
		h.appName = v
	}
	b = appendHeader(b, h)
	switch d.format {
	case RFC5424:
		params := make([]sdParam, 0, 5)
		for _, p := range []sdParam{{"rule", f.rule}, {"priority", f.priority}, {"tags", f.tags}, {"source", f.source}, {"uuid", f.uuid}} {
			if p.value != "" {
				params = append(params, p)
			}
		}
		if len(params) == 0 {
			b = append(b, '-')
		} else {
			b = appendSD(b, d.sdID, params)
		}
		b = append(b, ' ')
		var err error
		mark := len(b)
		if b, err = r.Body.AppendJSON(b); err != nil {
			b = append(b[:mark], `{"nightjar_error":"record could not be converted to JSON"}`...)
		}
	case CEF:
		b = append(b, "- "...)
		b = d.appendCEF(b, r, f)
	case LEEF:
		b = append(b, "- "...)
		b = d.appendLEEF(b, r, f)
	}
	truncated := false
	if len(b)-msgStart > d.maxMsg {
		b = truncate(b, msgStart+d.maxMsg)
		truncated = true
	}
	switch {
	case d.network == "udp":
	case d.octets:
		n := strconv.AppendInt(nil, int64(len(b)-msgStart), 10)
		// Move the message so that the prefix is exactly "LEN ".
		shift := 10 - len(n)
		copy(b[start+shift:], n)
		b[start+shift+len(n)] = ' '
		b = append(b[:start], b[start+shift:]...)
	default:
		// LF framing: the message itself must hold no LF.
		for i := msgStart; i < len(b); i++ {
			if b[i] == '\n' {
				b[i] = ' '
			}
		}
		b = append(b, '\n')
	}
	return b, truncated
}

// Send implements destination.Destination.
func (d *Destination) Send(ctx context.Context, b *destination.Batch) error {
	buf := make([]byte, 0, len(b.Records)*600)
	ends := make([]int, len(b.Records))
	for i, r := range b.Records {
		var trunc bool
		buf, trunc = d.encode(buf, b.Tag, r)
		if trunc {
			d.metrics.Truncated.Add(1)
		}
		ends[i] = len(buf)
	}
	if d.network == "udp" {
		return d.sendUDP(ctx, b, buf, ends)
	}
	return d.sendStream(ctx, b, buf, ends)
}

// sendUDP sends one datagram per message. A datagram handed to the kernel
// is settled: UDP has no acknowledgement.
func (d *Destination) sendUDP(ctx context.Context, b *destination.Batch, buf []byte, ends []int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next, sent := 0, 0
	defer func() {
		if sent > 0 {
			d.metrics.Batches.Add(1)
		}
	}()
	for attempt := 1; ; attempt++ {
		err := d.connect(ctx)
		for err == nil && next < len(ends) {
			start := 0
			if next > 0 {
				start = ends[next-1]
			}
			d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
			if _, err = d.conn.Write(buf[start:ends[next]]); err == nil {
				b.Ack(next)
				d.metrics.Sent.Add(1)
				sent++
				next++
			}
		}
		if err == nil {
			return nil
		}
		if fail := d.failed(ctx, attempt, err); fail != nil {
			return fail
		}
	}
}

// sendStream writes the framed messages over the stream connection,
// reconnecting on failure. A message is settled once the kernel accepted
// all its bytes on a connection the receiver had not closed.
func (d *Destination) sendStream(ctx context.Context, b *destination.Batch, buf []byte, ends []int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := 0
	for attempt := 1; ; attempt++ {
		err := d.connect(ctx)
		for err == nil && next < len(ends) {
			start := 0
			if next > 0 {
				start = ends[next-1]
			}
			// Write whole messages, up to writeChunk bytes at a time.
			last := next
			for last+1 < len(ends) && ends[last+1]-start <= writeChunk {
				last++
			}
			d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
			var n int
			n, err = d.conn.Write(buf[start:ends[last]])
			for next <= last && ends[next] <= start+n {
				b.Ack(next)
				d.metrics.Sent.Add(1)
				next++
			}
			if err == nil {
				d.metrics.Batches.Add(1)
			}
		}
		if err == nil {
			return nil
		}
		if fail := d.failed(ctx, attempt, err); fail != nil {
			return fail
		}
	}
}

// failed drops the connection after err and waits before the next
// attempt; it returns the error to give up with, or nil to retry.
func (d *Destination) failed(ctx context.Context, attempt int, err error) error {
	d.metrics.Failures.Add(1)
	if d.conn != nil {
		d.conn.Close()
		d.conn, d.raw = nil, nil
	}
	d.limiter.Log(d.log, slog.LevelWarn, "write", "syslog write failed; reconnecting", "address", d.addr, "error", err)
	var perm *tls.CertificateVerificationError
	if errors.As(err, &perm) {
		return destination.Permanent(fmt.Errorf("syslog %s: %w", d.addr, err))
	}
	if ctx.Err() != nil || attempt >= d.backoff.Attempts {
		return fmt.Errorf("syslog %s after %d attempts: %w", d.addr, attempt, err)
	}
	d.metrics.Retries.Add(1)
	if werr := d.backoff.Wait(ctx, attempt); werr != nil {
		return fmt.Errorf("syslog %s: %w", d.addr, err)
	}
	return nil
}

// connect makes sure d.conn is usable: a stream connection the receiver
// closed (it never sends anything, so readable means closed) is replaced.
func (d *Destination) connect(ctx context.Context) error {
	if d.conn != nil && (d.raw == nil || alive(d.raw)) {
		return nil
	}
	if d.conn != nil {
		d.conn.Close()
		d.conn, d.raw = nil, nil
	}
	dialer := &net.Dialer{Timeout: d.timeout, KeepAlive: 30 * time.Second}
	network := d.network
	if network == "tls" {
		network = "tcp"
	}
	c, err := dialer.DialContext(ctx, network, d.addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if d.raw, err = tc.SyscallConn(); err != nil {
			c.Close()
			return err
		}
	}
	if d.network == "tls" {
		tc := tls.Client(c, d.tls)
		hctx, cancel := context.WithTimeout(ctx, d.timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			d.raw = nil
			return fmt.Errorf("tls handshake: %w", err)
		}
		c = tc
	}
	d.conn = c
	return nil
}

// alive peeks at the socket without blocking: a receiver that closed the
// connection makes it readable (EOF or reset), while a live one, which
// sends nothing, leaves it empty.
func alive(raw syscall.RawConn) bool {
	ok := false
	var one [1]byte
	raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	})
	return ok
}
