package audit

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/groupcommit"
)

// SyslogOptions configure forwarding to a syslog server or SIEM.
type SyslogOptions struct {
	// Network is tcp, tls or udp.
	Network string
	Addr    string
	// Format is rfc5424 (structured data plus the event's canonical JSON as
	// the message) or cef (ArcSight Common Event Format in a syslog line).
	Format string
	// TLS configures the tls network.
	TLS *tls.Config
	// Queue bounds the events waiting to be sent; beyond it they are dropped
	// and counted. The durable log is the source of truth.
	Queue       int
	AppName     string
	Hostname    string
	DialTimeout time.Duration
	Logger      *slog.Logger
}

// Syslog forwards audit events asynchronously. It never blocks the
// appender: when the queue is full or the server unreachable, events are
// dropped and counted in ura_audit_forward_dropped_total.
type Syslog struct {
	opts   SyslogOptions
	log    *slog.Logger
	q      *groupcommit.Queue[syslogItem]
	cancel context.CancelFunc
	done   chan struct{}
	pid    string

	sent    prometheus.Counter
	dropped *prometheus.CounterVec
	queued  prometheus.GaugeFunc
}

type syslogItem struct {
	ev *Event
	cp *SignedCheckpoint
}

var (
	_ Forwarder            = (*Syslog)(nil)
	_ prometheus.Collector = (*Syslog)(nil)
)

// Syslog severities and the "log audit" facility (RFC 5424 §6.2.1).
const (
	facilityLogAudit = 13
	sevError         = 3
	sevWarning       = 4
	sevNotice        = 5
	sevInfo          = 6
)

// NewSyslog starts a forwarder.
func NewSyslog(opts SyslogOptions) (*Syslog, error) {
	switch opts.Network {
	case "tcp", "tls", "udp":
	default:
		return nil, fmt.Errorf("syslog network must be tcp, tls or udp; got %q", opts.Network)
	}
	switch opts.Format {
	case "":
		opts.Format = "rfc5424"
	case "rfc5424", "cef":
	default:
		return nil, fmt.Errorf("syslog format must be rfc5424 or cef; got %q", opts.Format)
	}
	if opts.Queue <= 0 {
		opts.Queue = 10000
	}
	if opts.AppName == "" {
		opts.AppName = "ura"
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	opts.Hostname = printUSASCII(opts.Hostname, 255)
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Syslog{
		opts:   opts,
		log:    opts.Logger,
		q:      groupcommit.NewQueue[syslogItem](opts.Queue),
		cancel: cancel,
		done:   make(chan struct{}),
		pid:    strconv.Itoa(os.Getpid()),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_audit_forward_sent_total",
			Help: "Audit events and checkpoints sent to the syslog/SIEM forwarder.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_audit_forward_dropped_total",
			Help: "Audit events and checkpoints not forwarded, by reason (queue_full, send_error, closed); they remain in the durable log.",
		}, []string{"reason"}),
	}
	s.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ura_audit_forward_queue_events",
		Help: "Audit events waiting to be forwarded.",
	}, func() float64 { return float64(s.q.Len()) })
	go s.run(ctx)
	return s, nil
}

// Forward queues events without blocking.
func (s *Syslog) Forward(events []Event) {
	for i := range events {
		s.enqueue(syslogItem{ev: &events[i]})
	}
}

// ForwardCheckpoint queues a checkpoint: a copy outside the gateway lets a
// verifier detect a truncated log even if the stored checkpoints were cut too.
func (s *Syslog) ForwardCheckpoint(cp SignedCheckpoint) { s.enqueue(syslogItem{cp: &cp}) }

func (s *Syslog) enqueue(it syslogItem) {
	switch full, closed := s.q.TrySend(it); {
	case closed:
		s.dropped.WithLabelValues("closed").Inc()
	case full:
		s.dropped.WithLabelValues("queue_full").Inc()
	}
}

// Close stops the forwarder, sending what is queued for up to two seconds.
func (s *Syslog) Close() error {
	if !s.q.Close() {
		return nil
	}
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		s.cancel()
		<-s.done
	}
	s.cancel()
	return nil
}

func (s *Syslog) run(ctx context.Context) {
	defer close(s.done)
	var conn net.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	var retryAt time.Time
	var lastErr string
	for it := range s.q.C() {
		if ctx.Err() != nil {
			s.dropped.WithLabelValues("closed").Inc()
			continue
		}
		msg := s.format(it)
		sent := false
		for attempt := 0; attempt < 2 && !sent; attempt++ {
			if conn == nil {
				if time.Now().Before(retryAt) {
					break
				}
				c, err := s.dial(ctx)
				if err != nil {
					retryAt = time.Now().Add(2 * time.Second)
					if err.Error() != lastErr {
						s.log.Warn("syslog forwarder cannot connect; dropping until it can", "addr", s.opts.Addr, "error", err)
						lastErr = err.Error()
					}
					break
				}
				conn, lastErr = c, ""
			}
			_ = conn.SetWriteDeadline(time.Now().Add(s.opts.DialTimeout))
			if _, err := conn.Write(s.frame(msg)); err != nil {
				_ = conn.Close()
				conn = nil
				continue
			}
			sent = true
		}
		if sent {
			s.sent.Inc()
		} else {
			s.dropped.WithLabelValues("send_error").Inc()
		}
	}
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.opts.DialTimeout}
	switch s.opts.Network {
	case "tls":
		td := &tls.Dialer{NetDialer: d, Config: s.opts.TLS}
		return td.DialContext(ctx, "tcp", s.opts.Addr)
	default:
		return d.DialContext(ctx, s.opts.Network, s.opts.Addr)
	}
}

// frame applies RFC 6587 octet counting on stream transports (RFC 5425 for
// TLS); a UDP datagram carries one message as is.
func (s *Syslog) frame(msg []byte) []byte {
	if s.opts.Network == "udp" {
		return msg
	}
	return append([]byte(strconv.Itoa(len(msg))+" "), msg...)
}

func (s *Syslog) format(it syslogItem) []byte {
	if it.cp != nil {
		cp := it.cp
		sd := sdElement("ura-checkpoint@32473", "count", strconv.FormatInt(cp.Count, 10), "head_hash", cp.HeadHash)
		line, _ := canonicalJSON(cp)
		return s.header(sevNotice, cp.Time, "checkpoint", sd, string(line))
	}
	e := it.ev
	sev := severity(e.Decision)
	if s.opts.Format == "cef" {
		return s.header(sev, e.Time, "decision", "-", cef(e))
	}
	codes := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		codes[i] = r.Code
	}
	sd := sdElement("ura@32473",
		"seq", strconv.FormatInt(e.Seq, 10), "member", e.Member, "action", e.Action,
		"decision", e.Decision, "record_id", e.RecordID, "reasons", strings.Join(codes, ","),
		"decision_id", e.DecisionID, "policy_revision", e.PolicyRevision, "status", nonZero(e.Status),
		"collapsed", nonZero(e.Collapsed), "request_id", e.RequestID, "hash", e.Hash)
	line, _ := canonicalJSON(e)
	return s.header(sev, e.Time, "decision", sd, string(line))
}

// header builds an RFC 5424 line. The private enterprise number 32473 is
// the one RFC 5612 reserves for documentation; a deployment that registers
// its own may change it in the SIEM's parser and here together.
func (s *Syslog) header(sev int, t time.Time, msgID, sd, msg string) []byte {
	pri := facilityLogAudit*8 + sev
	return fmt.Appendf(nil, "<%d>1 %s %s %s %s %s %s %s", pri, t.UTC().Format("2006-01-02T15:04:05.000000Z"),
		nilValue(s.opts.Hostname), printUSASCII(s.opts.AppName, 48), s.pid, msgID, sd, msg)
}

func severity(decision string) int {
	switch {
	case decision == DecisionError:
		return sevError
	case Denied(decision):
		return sevWarning
	case decision == DecisionRedact:
		return sevNotice
	default:
		return sevInfo
	}
}

// nonZero renders an integer member of the structured data; zero (absent
// from the event) is left out.
func nonZero(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// sdElement renders one SD-ELEMENT, leaving out empty parameters and
// escaping '"', '\' and ']' as RFC 5424 §6.3.3 requires.
func sdElement(id string, kv ...string) string {
	var b strings.Builder
	b.WriteString("[" + id)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		b.WriteString(" " + kv[i] + `="`)
		for _, r := range kv[i+1] {
			if r == '"' || r == '\\' || r == ']' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteString(`"`)
	}
	b.WriteString("]")
	return b.String()
}

func nilValue(v string) string {
	if v == "" {
		return "-"
	}
	return v
}

// printUSASCII keeps header fields within RFC 5424's PRINTUSASCII.
func printUSASCII(v string, n int) string {
	var b strings.Builder
	for i := 0; i < len(v) && b.Len() < n; i++ {
		if c := v[i]; c >= 33 && c <= 126 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// cef renders an event in ArcSight CEF:0.
func cef(e *Event) string {
	codes := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		codes[i] = r.Code
	}
	sev := map[int]string{sevError: "8", sevWarning: "7", sevNotice: "4", sevInfo: "3"}[severity(e.Decision)]
	hdr := []string{"CEF:0", "ura", "ura gateway", "1", e.Action + "." + e.Decision, "policy decision", sev}
	ext := [][2]string{
		{"rt", strconv.FormatInt(e.Time.UnixMilli(), 10)},
		{"suser", e.Member},
		{"act", e.Decision},
		{"request", e.Route},
		{"externalId", e.RequestID},
		{"cn1Label", "seq"}, {"cn1", strconv.FormatInt(e.Seq, 10)},
		{"cs1Label", "record_id"}, {"cs1", e.RecordID},
		{"cs2Label", "reasons"}, {"cs2", strings.Join(codes, ",")},
		{"cs3Label", "decision_id"}, {"cs3", e.DecisionID},
		{"cs4Label", "policy_revision"}, {"cs4", e.PolicyRevision},
		{"cs5Label", "hash"}, {"cs5", e.Hash},
		{"cs6Label", "signing_kid"}, {"cs6", e.SigningKID},
	}
	if e.Status != 0 {
		ext = append(ext, [2]string{"cn2Label", "status"}, [2]string{"cn2", strconv.Itoa(e.Status)})
	}
	if e.Collapsed != 0 {
		// CEF's baseEventCount: how many refusals a summary stands for.
		ext = append(ext, [2]string{"cnt", strconv.Itoa(e.Collapsed)})
	}
	var b strings.Builder
	for i, h := range hdr {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(cefHeader(h))
	}
	b.WriteByte('|')
	first := true
	for _, kv := range ext {
		if kv[1] == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(kv[0] + "=" + cefValue(kv[1]))
	}
	return b.String()
}

func cefHeader(v string) string {
	return strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\n", " ", "\r", " ").Replace(v)
}

func cefValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`).Replace(v)
}

// Describe implements prometheus.Collector.
func (s *Syslog) Describe(ch chan<- *prometheus.Desc) {
	s.sent.Describe(ch)
	s.dropped.Describe(ch)
	s.queued.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *Syslog) Collect(ch chan<- prometheus.Metric) {
	s.sent.Collect(ch)
	s.dropped.Collect(ch)
	s.queued.Collect(ch)
}
