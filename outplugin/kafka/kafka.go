// Package kafka is the Kafka destination (Apache Kafka, Amazon MSK,
// Confluent and other brokers speaking the Kafka protocol), built on
// franz-go: an idempotent producer with acks from all in-sync replicas,
// topic and key templated per record, batch compression, TLS and SASL
// (PLAIN, SCRAM, AWS MSK IAM). A record settles only when the broker has
// acknowledged its produce.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Type is the destination type name in routes.hcl.
const Type = "kafka"

// Register adds the kafka type to reg.
func Register(reg *destination.Registry) { reg.Register(Type, New) }

type settings struct {
	Brokers            []string          `hcl:"brokers"`
	Topic              hcl.Expression    `hcl:"topic"`
	Key                hcl.Expression    `hcl:"key,optional"`
	Headers            map[string]string `hcl:"headers,optional"`
	Compression        string            `hcl:"compression,optional"`
	ClientID           string            `hcl:"client_id,optional"`
	TLS                bool              `hcl:"tls,optional"`
	CAFile             string            `hcl:"ca_file,optional"`
	ClientCertFile     string            `hcl:"client_cert_file,optional"`
	ClientKeyFile      string            `hcl:"client_key_file,optional"`
	InsecureSkipVerify bool              `hcl:"insecure_skip_verify,optional"`
	ServerName         string            `hcl:"server_name,optional"`
	SASL               *saslSettings     `hcl:"sasl,block"`
	Timeout            string            `hcl:"timeout,optional"`
	Linger             string            `hcl:"linger,optional"`
	MaxMessageBytes    int               `hcl:"max_message_bytes,optional"`
	MetadataMinAge     string            `hcl:"metadata_min_age,optional"`
}

type saslSettings struct {
	Mechanism   string `hcl:"mechanism"`
	Username    string `hcl:"username,optional"`
	Password    string `hcl:"password,optional"`
	Region      string `hcl:"region,optional"`
	RoleARN     string `hcl:"role_arn,optional"`
	STSEndpoint string `hcl:"sts_endpoint,optional"`
}

// Destination produces records to Kafka.
type Destination struct {
	client  *kgo.Client
	topic   *destination.Template
	key     *destination.Template // nil: no key
	headers []header
	timeout time.Duration
	log     *slog.Logger
	limiter *destination.Limiter
	metrics *destination.Metrics
}

type header struct {
	name string
	tmpl *destination.Template
}

// New builds a kafka destination from its block.
func New(cfg destination.Config) (destination.Destination, hcl.Diagnostics) {
	var s settings
	diags := gohcl.DecodeBody(cfg.Body, cfg.Eval, &s)
	if diags.HasErrors() {
		return nil, diags
	}
	bad := func(name, summary, detail string) (destination.Destination, hcl.Diagnostics) {
		return nil, append(diags, destination.SettingError(cfg.Body, name, summary, detail))
	}
	d := &Destination{timeout: 30 * time.Second, log: cfg.Logger, limiter: destination.NewLimiter(time.Minute), metrics: cfg.Metrics}
	if len(s.Brokers) == 0 {
		return bad("brokers", "Missing brokers", "Set brokers to at least one host:port.")
	}
	var dg hcl.Diagnostics
	if d.topic, dg = destination.TemplateAttr(s.Topic, cfg.Eval, ""); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if t, static := d.topic.Static(); static && t == "" {
		return bad("topic", "Missing topic", "Set topic to a name or a template such as \"alerts-{{ output_fields.k8s.ns.name }}\".")
	} else if static {
		if err := checkTopic(t); err != nil {
			return bad("topic", "Invalid topic", err.Error()+".")
		}
	}
	if d.key, dg = destination.TemplateAttr(s.Key, cfg.Eval, "{{ hostname }}"); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if t, static := d.key.Static(); static && t == "" {
		d.key = nil
	}
	names := make([]string, 0, len(s.Headers))
	for n := range s.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t, err := destination.ParseTemplate(s.Headers[n])
		if err != nil {
			return bad("headers", "Invalid headers", fmt.Sprintf("header %s: %v.", n, err))
		}
		d.headers = append(d.headers, header{n, t})
	}
	var err error
	if d.timeout, err = destination.ParseTimeout(s.Timeout, d.timeout); err != nil {
		return bad("timeout", "Invalid timeout", err.Error()+".")
	}
	linger := time.Duration(0)
	if s.Linger != "" {
		if linger, err = time.ParseDuration(s.Linger); err != nil || linger < 0 {
			return bad("linger", "Invalid linger", fmt.Sprintf("linger %q is not a duration such as \"5ms\".", s.Linger))
		}
	}

	metaAge := 5 * time.Second
	if s.MetadataMinAge != "" {
		if metaAge, err = time.ParseDuration(s.MetadataMinAge); err != nil || metaAge <= 0 {
			return bad("metadata_min_age", "Invalid metadata_min_age", fmt.Sprintf("metadata_min_age %q is not a positive duration such as \"1s\".", s.MetadataMinAge))
		}
	}

	clientID := "nightjar"
	if s.ClientID != "" {
		clientID = s.ClientID
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.Brokers...),
		kgo.ClientID(clientID),
		// Idempotent writes (franz-go's default) need acks from every
		// in-sync replica; said here so that no later default changes it.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(linger),
		kgo.MaxBufferedRecords(1 << 16),
		// After a failed produce the client waits for fresh metadata,
		// at most this often.
		kgo.MetadataMinAge(metaAge),
	}
	if s.MaxMessageBytes != 0 {
		if s.MaxMessageBytes < 1024 {
			return bad("max_message_bytes", "Invalid max_message_bytes", "max_message_bytes must be at least 1024.")
		}
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(min(s.MaxMessageBytes, 1<<30))))
	}
	codec, ok := map[string]kgo.CompressionCodec{
		"": kgo.SnappyCompression(), "snappy": kgo.SnappyCompression(), "none": kgo.NoCompression(),
		"gzip": kgo.GzipCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}[s.Compression]
	if !ok {
		return bad("compression", "Invalid compression", "compression must be none, gzip, snappy, lz4 or zstd.")
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))

	if s.TLS || s.CAFile != "" || s.ClientCertFile != "" || s.InsecureSkipVerify {
		tc, err := s.tlsConfig()
		if err != nil {
			return bad(tlsSetting(err), "Invalid TLS settings", err.Error()+".")
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s.SASL != nil {
		m, dg := mechanism(cfg.Body, s.SASL)
		if dg.HasErrors() {
			return nil, append(diags, dg...)
		}
		opts = append(opts, kgo.SASL(m))
	}
	if d.client, err = kgo.NewClient(opts...); err != nil {
		return bad("brokers", "Invalid Kafka settings", err.Error()+".")
	}
	return d, diags
}

// tlsConfig returns the client configuration of the TLS attributes. An
// empty server_name lets franz-go verify each broker's own host name.
func (s *settings) tlsConfig() (*tls.Config, error) {
	if (s.ClientCertFile == "") != (s.ClientKeyFile == "") {
		return nil, errors.New("set both client_cert_file and client_key_file, or neither")
	}
	t := destination.TLS{CAFile: s.CAFile, CertFile: s.ClientCertFile, KeyFile: s.ClientKeyFile,
		ServerName: s.ServerName, InsecureSkipVerify: s.InsecureSkipVerify}
	return t.ClientConfig("")
}

// tlsSetting names the setting a TLS error concerns: destination.TLS
// begins its errors about the CA with "ca_file", and the others concern
// the client certificate.
func tlsSetting(err error) string {
	if strings.HasPrefix(err.Error(), "ca_file") {
		return "ca_file"
	}
	return "client_cert_file"
}

func mechanism(body hcl.Body, s *saslSettings) (sasl.Mechanism, hcl.Diagnostics) {
	bad := func(summary, detail string) (sasl.Mechanism, hcl.Diagnostics) {
		return nil, hcl.Diagnostics{destination.SettingError(body, "sasl", summary, detail)}
	}
	userPass := s.Username != "" && s.Password != ""
	switch s.Mechanism {
	case "PLAIN":
		if !userPass {
			return bad("Incomplete SASL settings", "PLAIN needs username and password.")
		}
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		if !userPass {
			return bad("Incomplete SASL settings", s.Mechanism+" needs username and password.")
		}
		a := scram.Auth{User: s.Username, Pass: s.Password}
		if s.Mechanism == "SCRAM-SHA-256" {
			return a.AsSha256Mechanism(), nil
		}
		return a.AsSha512Mechanism(), nil
	case "AWS_MSK_IAM":
		if s.Username != "" || s.Password != "" {
			return bad("Invalid SASL settings", "AWS_MSK_IAM takes its credentials from the AWS default chain, not username and password.")
		}
		var opts []func(*config.LoadOptions) error
		if s.Region != "" {
			opts = append(opts, config.WithRegion(s.Region))
		}
		awsCfg, err := config.LoadDefaultConfig(context.Background(), opts...)
		if err != nil {
			return bad("AWS configuration", err.Error())
		}
		creds := awsCfg.Credentials
		if s.RoleARN != "" {
			stsClient := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
				if s.STSEndpoint != "" {
					o.BaseEndpoint = aws.String(s.STSEndpoint)
				}
			})
			creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, s.RoleARN, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "nightjar-kafka"
			}))
		}
		if creds == nil {
			return bad("Missing credentials", "No AWS credentials found in the default chain.")
		}
		// Each connection signs with the chain's current credentials, so
		// task-role rotation needs no restart.
		return saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
			c, err := creds.Retrieve(ctx)
			if err != nil {
				return saslaws.Auth{}, fmt.Errorf("AWS credentials: %w", err)
			}
			return saslaws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken, UserAgent: "nightjar"}, nil
		}), nil
	}
	return bad("Invalid SASL mechanism", "mechanism must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM.")
}

// maxTopicBytes is Kafka's bound on topic names.
const maxTopicBytes = 249

func checkTopic(t string) error {
	if t == "" || t == "." || t == ".." {
		return fmt.Errorf("topic %q is not a valid name", t)
	}
	if len(t) > maxTopicBytes {
		return fmt.Errorf("topic %q is longer than %d bytes", t, maxTopicBytes)
	}
	for _, c := range []byte(t) {
		if !topicByte(c) {
			return fmt.Errorf("topic %q may contain only ASCII letters, digits, '.', '_' and '-'", t)
		}
	}
	return nil
}

func topicByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// sanitizeTopic makes a rendered topic a legal name.
func sanitizeTopic(t string) string {
	clean := len(t) <= maxTopicBytes && t != "." && t != ".."
	for i := 0; clean && i < len(t); i++ {
		clean = topicByte(t[i])
	}
	if clean && t != "" {
		return t
	}
	b := []byte(t)
	for i, c := range b {
		if !topicByte(c) {
			b[i] = '_'
		}
	}
	if len(b) > maxTopicBytes {
		b = b[:maxTopicBytes]
	}
	if s := string(b); s != "" && s != "." && s != ".." {
		return s
	}
	return destination.Missing
}

// Close implements destination.Destination.
func (d *Destination) Close() error {
	d.client.Close()
	return nil
}

// Send implements destination.Destination: every record is produced, and
// acknowledged in the batch from its promise once the brokers confirm it.
func (d *Destination) Send(ctx context.Context, b *destination.Batch) error {
	size := 0
	for _, r := range b.Records {
		size += len(r.Body) + len(r.Body)/2
	}
	// Values stay referenced by the client until their promises run, which
	// may be after Send returns on cancellation: this buffer is never
	// reused.
	buf := make([]byte, 0, size+64)
	staticTopic, topicStatic := d.topic.Static()

	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		returned bool
		permErr  error
		tempErr  error
	)
	recs := make([]kgo.Record, len(b.Records))
	for i, r := range b.Records {
		start := len(buf)
		var err error
		if buf, err = r.Body.AppendJSON(buf); err != nil {
			buf = append(buf[:start], `{"nightjar_error":"record could not be converted to JSON"}`...)
		}
		kr := &recs[i]
		kr.Value = buf[start:len(buf):len(buf)]
		kr.Timestamp = r.Time
		kr.Topic = staticTopic
		if !topicStatic {
			kr.Topic = sanitizeTopic(d.topic.Render(b.Tag, r))
		}
		if d.key != nil {
			kr.Key = []byte(d.key.Render(b.Tag, r))
		}
		for _, h := range d.headers {
			if v, ok := h.tmpl.Try(b.Tag, r); ok {
				kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.name, Value: []byte(v)})
			}
		}
	}
	// The records' context bounds delivery: franz-go's own record timeout
	// counts from the record timestamp, which is the alert's time here.
	// Records the client cannot yet know to be unwritten outlive it; Send
	// waits for those until ctx ends.
	pctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	for i := range recs {
		wg.Add(1)
		idx := i
		d.client.Produce(pctx, &recs[i], func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if returned {
				return // Send gave up on this record; the router retries it
			}
			switch {
			case err == nil:
				d.metrics.Sent.Add(1)
				b.Ack(idx)
			case errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.CorruptMessage):
				// No retry can make this record acceptable.
				d.metrics.Dropped.Add(1)
				b.Ack(idx)
				d.limiter.Log(d.log, slog.LevelWarn, "refused", "Kafka refused a record; dropped", "topic", recs[idx].Topic, "bytes", len(recs[idx].Value), "error", err)
			case isPermanent(err):
				if permErr == nil {
					permErr = err
				}
			default:
				if tempErr == nil {
					tempErr = err
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	returned = true
	pending := b.Pending()
	mu.Unlock()
	if pending > 0 {
		d.metrics.Failures.Add(1)
		if permErr == nil {
			// A timed-out produce does not say why; a broker round trip
			// tells refused credentials from an unreachable cluster.
			if perr := d.ping(ctx); isPermanent(perr) {
				permErr, tempErr = perr, nil
			}
		}
		switch {
		case tempErr != nil:
			return fmt.Errorf("kafka: %d of %d records not acknowledged: %w", pending, len(recs), tempErr)
		case permErr != nil:
			return destination.Permanent(fmt.Errorf("kafka: %d of %d records refused: %w", pending, len(recs), permErr))
		}
		return fmt.Errorf("kafka: %d of %d records not acknowledged: %w", pending, len(recs), context.Cause(ctx))
	}
	d.metrics.Batches.Add(1)
	return nil
}

func (d *Destination) ping(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return d.client.Ping(pctx)
}

// isPermanent reports errors that retrying with the same configuration
// cannot fix.
func isPermanent(err error) bool {
	for _, e := range []error{kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.SaslAuthenticationFailed,
		kerr.UnsupportedSaslMechanism, kerr.InvalidTopicException, kerr.TransactionalIDAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
