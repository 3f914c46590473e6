// Package kafkatest runs franz-go's kfake cluster (an in-process broker
// speaking the real Kafka protocol) for tests, records what each produce
// request carried, reads topics back with a consumer, injects produce
// failures and plays the broker side of AWS MSK IAM authentication.
package kafkatest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Codec numbers of the record batch attributes' compression bits.
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLz4    = 3
	CodecZstd   = 4
)

// Batch describes one record batch of a produce request.
type Batch struct {
	Topic      string
	Acks       int16
	Codec      int
	ProducerID int64
	Records    int
}

// Cluster is a running kfake cluster with produce requests observed.
type Cluster struct {
	*kfake.Cluster
	// ClientOpts are added to the consumer of ReadAll (TLS, SASL).
	ClientOpts []kgo.Opt
	mu         sync.Mutex
	batches    []Batch
	auths      []string // access keys that passed MSK IAM authentication
	authErr    []string
}

// New starts a cluster with opts and observes its produce requests.
func New(opts ...kfake.Opt) (*Cluster, error) {
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Cluster: kc}
	kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		c.observe(req.(*kmsg.ProduceRequest))
		return nil, nil, false
	})
	return c, nil
}

// Addrs returns the brokers' host:port addresses.
func (c *Cluster) Addrs() []string { return c.ListenAddrs() }

// Brokers returns the addresses as an HCL list.
func (c *Cluster) Brokers() string {
	var q []string
	for _, a := range c.Addrs() {
		q = append(q, fmt.Sprintf("%q", a))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (c *Cluster) observe(req *kmsg.ProduceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			b := p.Records
			// Record batch v2 header: baseOffset int64, batchLength int32,
			// partitionLeaderEpoch int32, magic int8, crc int32,
			// attributes int16, lastOffsetDelta int32, two timestamps,
			// producerId int64, producerEpoch int16, baseSequence int32,
			// record count int32.
			for len(b) >= 61 {
				n := int(binary.BigEndian.Uint32(b[8:12])) + 12
				c.batches = append(c.batches, Batch{
					Topic:      t.Topic,
					Acks:       req.Acks,
					Codec:      int(binary.BigEndian.Uint16(b[21:23]) & 0x07),
					ProducerID: int64(binary.BigEndian.Uint64(b[43:51])),
					Records:    int(int32(binary.BigEndian.Uint32(b[57:61]))),
				})
				if n > len(b) || n <= 12 {
					break
				}
				b = b[n:]
			}
		}
	}
}

// Batches returns the record batches produced so far.
func (c *Cluster) Batches() []Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Batch(nil), c.batches...)
}

// FailProduce answers the next n produce requests with err for every
// partition, without writing anything.
func (c *Cluster) FailProduce(n int, err *kerr.Error) {
	left := n
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		c.mu.Lock()
		left--
		more := left > 0
		c.mu.Unlock()
		// Keeping is sticky in kfake; dropping ends it.
		c.KeepControl()
		if !more {
			c.DropControl()
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = req.Version
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = err.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// DropProduce closes the connection of the next n produce requests
// without answering or writing.
func (c *Cluster) DropProduce(n int) {
	left := n
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.mu.Lock()
		left--
		more := left > 0
		c.mu.Unlock()
		// Keeping is sticky in kfake; dropping ends it.
		c.KeepControl()
		if !more {
			c.DropControl()
		}
		return nil, fmt.Errorf("injected connection drop"), true
	})
}

// TimeoutAfterWrite writes the next n produce requests, then answers
// REQUEST_TIMED_OUT, as a broker whose replication was slow does: the
// producer cannot know the records landed.
func (c *Cluster) TimeoutAfterWrite(n int) {
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: n})
}

// ReadAll consumes topics from the start until at least n records have
// arrived, then a little longer to catch any beyond n.
func (c *Cluster) ReadAll(ctx context.Context, n int, topics ...string) ([]*kgo.Record, error) {
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}, c.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	settle := time.Time{}
	for {
		if len(out) >= n && settle.IsZero() {
			settle = time.Now().Add(300 * time.Millisecond)
		}
		stop := deadline
		if !settle.IsZero() {
			stop = settle
		}
		if time.Now().After(stop) {
			break
		}
		pctx, cancel := context.WithDeadline(ctx, stop)
		fs := cl.PollFetches(pctx)
		cancel()
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded && e.Err != context.Canceled {
				return out, fmt.Errorf("fetch %s/%d: %w", e.Topic, e.Partition, e.Err)
			}
		}
		out = append(out, fs.Records()...)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	if len(out) < n {
		return out, fmt.Errorf("read %d records, want %d", len(out), n)
	}
	return out, nil
}

// MSKIAM makes the cluster authenticate clients as Amazon MSK does with
// IAM access control: mechanism AWS_MSK_IAM, whose single message is a
// JSON map of SigV4 presigned-URL parameters for the kafka-cluster:Connect
// action on the broker host. The signature is checked by presigning the
// same request with the SDK's signer and the secret of the access key.
func (c *Cluster) MSKIAM(region string, secrets map[string]string) {
	c.ControlKey(int16(kmsg.SASLHandshake), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.SASLHandshakeRequest)
		resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.Version = req.Version
		resp.SupportedMechanisms = []string{"AWS_MSK_IAM"}
		if req.Mechanism != "AWS_MSK_IAM" {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.SASLAuthenticateRequest)
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.Version = req.Version
		key, err := verifyMSKIAM(req.SASLAuthBytes, region, secrets)
		c.mu.Lock()
		if err != nil {
			c.authErr = append(c.authErr, err.Error())
			msg := err.Error()
			resp.ErrorCode, resp.ErrorMessage = kerr.SaslAuthenticationFailed.Code, &msg
		} else {
			c.auths = append(c.auths, key)
			resp.SASLAuthBytes = []byte(`{"version":"2020_10_22","request-id":"nightjar-test"}`)
		}
		c.mu.Unlock()
		return resp, nil, true
	})
}

// Authentications returns the access keys of successful MSK IAM
// authentications and the failures' reasons.
func (c *Cluster) Authentications() (ok, failed []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.auths...), append([]string(nil), c.authErr...)
}

func verifyMSKIAM(payload []byte, region string, secrets map[string]string) (string, error) {
	var m map[string]string
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", fmt.Errorf("payload is not a JSON object: %w", err)
	}
	if m["version"] != "2020_10_22" || m["action"] != "kafka-cluster:Connect" || m["host"] == "" {
		return "", fmt.Errorf("payload version %q, action %q, host %q", m["version"], m["action"], m["host"])
	}
	scope := strings.Split(m["x-amz-credential"], "/")
	if len(scope) != 5 || scope[2] != region || scope[3] != "kafka-cluster" || scope[4] != "aws4_request" {
		return "", fmt.Errorf("credential scope %q", m["x-amz-credential"])
	}
	secret, ok := secrets[scope[0]]
	if !ok {
		return "", fmt.Errorf("unknown access key %s", scope[0])
	}
	t, err := time.Parse("20060102T150405Z", m["x-amz-date"])
	if err != nil {
		return "", fmt.Errorf("x-amz-date: %w", err)
	}
	q := url.Values{}
	q.Set("Action", "kafka-cluster:Connect")
	q.Set("X-Amz-Expires", m["x-amz-expires"])
	req, _ := http.NewRequest(http.MethodGet, "https://"+m["host"]+"/?"+q.Encode(), nil)
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret, SessionToken: m["x-amz-security-token"]}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptySHA256, "kafka-cluster", region, t)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(signed)
	if err != nil {
		return "", err
	}
	if want := u.Query().Get("X-Amz-Signature"); want != m["x-amz-signature"] {
		return "", fmt.Errorf("signature mismatch")
	}
	return scope[0], nil
}
