package api

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

const (
	// DefaultBodyBytesInFlight bounds the request body bytes held by all
	// requests at once. Parsing a body takes several times its size (a
	// hashedrekord of 4 MiB: about 5 times, measured with
	// internal/rssload), so this keeps the memory of bodies in flight
	// near 300-400 MiB at most.
	DefaultBodyBytesInFlight = 64 << 20
	// DefaultClientRequests bounds the requests one client has in flight.
	DefaultClientRequests = 256
	// DefaultClientBodyBytes bounds the request body bytes one client has
	// in flight: four bodies of the default maximum size, a quarter of the
	// global budget.
	DefaultClientBodyBytes = 16 << 20
	// DefaultBodyStallTimeout cuts a request body that sends nothing for so long.
	DefaultBodyStallTimeout = 10 * time.Second
	// DefaultBodyReadTimeout bounds the reading of a whole request body.
	DefaultBodyReadTimeout = 60 * time.Second
)

// Limits protect the server from overload and from a single greedy client.
//
// The per-client budgets (ClientRequests, ClientBodyBytes) and the global
// body budget are on when left zero (negative turns one off); they apply to
// loopback clients too. A client is an IPv4 address or an IPv6 /64: the
// peer's, or, behind a proxy listed in TrustedProxies, the one it names in
// X-Forwarded-For.
type Limits struct {
	// MaxConcurrent caps the requests served at once; beyond it requests get
	// 503 with Retry-After at once rather than queueing. 0 means no cap.
	MaxConcurrent int
	// RatePerClient is the sustained requests per second allowed to one
	// client; 0 disables rate limiting.
	RatePerClient float64
	// Burst is how many requests a client may send at once above the rate.
	Burst int
	// LimitLoopback applies the per-client rate to loopback clients too
	// (off by default: local tools and health checks are not throttled).
	// The per-client budgets below always apply to loopback.
	LimitLoopback bool

	// BodyBytesInFlight caps the request body bytes held by all requests
	// at once, counted as they arrive and released when the request ends;
	// a request whose body would pass it gets 503 with Retry-After at once.
	// 0: DefaultBodyBytesInFlight; negative: no cap.
	BodyBytesInFlight int64
	// ClientRequests caps the requests one client has in flight; beyond it
	// its new requests get 429 with Retry-After while other clients'
	// proceed. 0: DefaultClientRequests; negative: no cap.
	ClientRequests int
	// ClientBodyBytes caps the body bytes one client has in flight; a
	// request that would pass it gets 429 with Retry-After.
	// 0: DefaultClientBodyBytes; negative: no cap.
	ClientBodyBytes int64
	// BodyStallTimeout cuts (408) a request body that sends nothing for so
	// long. 0: DefaultBodyStallTimeout; negative: none.
	BodyStallTimeout time.Duration
	// BodyReadTimeout bounds the reading of a whole body from the start of
	// the request (it replaces the server's read deadline once the stall
	// timeout is in use). 0: DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (see ParseTrustedProxies); empty: the peer is always the client.
	TrustedProxies []netip.Prefix
}

func (l Limits) withDefaults() Limits {
	if l.BodyBytesInFlight == 0 {
		l.BodyBytesInFlight = DefaultBodyBytesInFlight
	}
	if l.ClientRequests == 0 {
		l.ClientRequests = DefaultClientRequests
	}
	if l.ClientBodyBytes == 0 {
		l.ClientBodyBytes = DefaultClientBodyBytes
	}
	if l.BodyStallTimeout == 0 {
		l.BodyStallTimeout = DefaultBodyStallTimeout
	}
	if l.BodyReadTimeout <= 0 {
		l.BodyReadTimeout = DefaultBodyReadTimeout
	}
	return l
}

// maxTrackedClients bounds the memory of per-client rate limiters; the least
// recently seen client's limiter is forgotten first.
const maxTrackedClients = 100_000

// Reasons a request is refused by the limits, the label of
// tabula_http_rejected_total.
const (
	rejectConcurrency   = "concurrency"
	rejectRate          = "client_rate"
	rejectClientReqs    = "client_requests"
	rejectClientBytes   = "client_body_bytes"
	rejectBodyBudget    = "body_bytes_in_flight"
	rejectBodyTooLarge  = "body_too_large"
	rejectBodyStalled   = "body_stalled"
	retryAfterOverload  = "1"
	retryAfterPerClient = "1"
)

// limit applies the per-client budgets and rate, the concurrency cap, and
// the body byte budgets.
func (s *Server) limit(l Limits) func(http.Handler) http.Handler {
	l = l.withDefaults()
	var sem chan struct{}
	if l.MaxConcurrent > 0 {
		sem = make(chan struct{}, l.MaxConcurrent)
	}
	var rates *lru.Cache[netip.Prefix, *rate.Limiter]
	if l.RatePerClient > 0 {
		rates, _ = lru.New[netip.Prefix, *rate.Limiter](maxTrackedClients)
	}
	burst := max(l.Burst, 1)
	retryAfter := "1"
	if l.RatePerClient > 0 && l.RatePerClient < 1 {
		retryAfter = strconv.Itoa(int(1/l.RatePerClient) + 1)
	}
	b := newBudgets(l, s.metrics)
	resolver := clientResolver{trusted: l.TrustedProxies}
	reject := func(w http.ResponseWriter, r *http.Request, code int, reason, retry, msg string) {
		s.metrics.rejected.WithLabelValues(reason).Inc()
		if r.ContentLength != 0 {
			closeUnread(w)
		}
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		writeAPIError(w, r, code, msg)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			addr := resolver.addr(r)
			key := clientKey(addr)
			if s.maxBody > 0 && r.ContentLength > s.maxBody {
				reject(w, r, http.StatusRequestEntityTooLarge, rejectBodyTooLarge, "",
					"Request Entity Too Large. Limit set to "+strconv.FormatInt(s.maxBody, 10))
				return
			}
			if rates != nil && (l.LimitLoopback || !addr.IsLoopback()) {
				lim, ok := rates.Get(key)
				if !ok {
					lim = rate.NewLimiter(rate.Limit(l.RatePerClient), burst)
					rates.Add(key, lim)
				}
				if !lim.Allow() {
					reject(w, r, http.StatusTooManyRequests, rejectRate, retryAfter, "rate limit exceeded; retry later")
					return
				}
			}
			// The client's own budget first: requests it may not have must
			// not take the global slots from others.
			c, ok := b.enter(key)
			if !ok {
				reject(w, r, http.StatusTooManyRequests, rejectClientReqs, retryAfterPerClient,
					"too many concurrent requests from this client; retry later")
				return
			}
			defer b.leave(key, c)
			if sem != nil {
				select {
				case sem <- struct{}{}:
					defer func() { <-sem }()
				default:
					reject(w, r, http.StatusServiceUnavailable, rejectConcurrency, retryAfterOverload,
						"too many concurrent requests; retry later")
					return
				}
			}
			if r.Body != nil && r.Body != http.NoBody {
				body := &budgetBody{
					src:      r.Body,
					b:        b,
					client:   c,
					stall:    l.BodyStallTimeout,
					deadline: start.Add(l.BodyReadTimeout),
					ctl:      http.NewResponseController(w),
				}
				r.Body = body
				defer body.release()
			}
			next.ServeHTTP(w, r)
		})
	}
}

// closeUnread makes the server close the connection after the answer to a
// request whose body is not read: otherwise it would first try to read the
// rest of the body, which a stalled client never sends, before answering.
func closeUnread(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
}

// budgets keeps the body bytes in flight, globally and per client, and each
// client's requests in flight. A client's entry lives while it has a
// request in flight, so the map is bounded by the requests being served.
type budgets struct {
	l       Limits
	metrics *httpMetrics

	mu      sync.Mutex
	bytes   int64 // all clients' body bytes in flight
	clients map[netip.Prefix]*clientBudget
}

type clientBudget struct {
	requests int
	bytes    int64
}

func newBudgets(l Limits, m *httpMetrics) *budgets {
	return &budgets{l: l, metrics: m, clients: make(map[netip.Prefix]*clientBudget)}
}

// enter counts a request of client key, unless it has its share in flight.
func (b *budgets) enter(key netip.Prefix) (*clientBudget, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.clients[key]
	if c == nil {
		c = &clientBudget{}
		b.clients[key] = c
	}
	if b.l.ClientRequests > 0 && c.requests >= b.l.ClientRequests {
		if c.requests == 0 {
			delete(b.clients, key)
		}
		return nil, false
	}
	c.requests++
	return c, true
}

func (b *budgets) leave(key netip.Prefix, c *clientBudget) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c.requests--
	if c.requests == 0 {
		delete(b.clients, key)
	}
}

// charge counts n more body bytes of client c; it fails, charging nothing,
// with the reason if a budget would be passed.
func (b *budgets) charge(c *clientBudget, n int64) *limitError {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.l.ClientBodyBytes > 0 && c.bytes+n > b.l.ClientBodyBytes {
		return &limitError{code: http.StatusTooManyRequests, reason: rejectClientBytes, retryAfter: retryAfterPerClient,
			msg: "too many request body bytes in flight from this client; retry later"}
	}
	if b.l.BodyBytesInFlight > 0 && b.bytes+n > b.l.BodyBytesInFlight {
		return &limitError{code: http.StatusServiceUnavailable, reason: rejectBodyBudget, retryAfter: retryAfterOverload,
			msg: "the server holds too many request bodies; retry later"}
	}
	c.bytes += n
	b.bytes += n
	b.metrics.bodyBytes.Add(float64(n))
	return nil
}

func (b *budgets) refund(c *clientBudget, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	c.bytes -= n
	b.bytes -= n
	b.mu.Unlock()
	b.metrics.bodyBytes.Sub(float64(n))
}

// limitError is a request refused by a limit while its body was read.
type limitError struct {
	code       int
	reason     string
	retryAfter string
	msg        string
}

func (e *limitError) Error() string { return e.msg }

// bodyChunk is the most read (and so charged) in one Read: the bytes a
// request may hold beyond its budget.
const bodyChunk = 64 << 10

// budgetBody charges the body bytes of a request as they arrive, and cuts a
// body that stalls. The bytes stay charged until the request ends: the
// handler holds them (and what it builds from them) until then.
type budgetBody struct {
	src      io.ReadCloser
	b        *budgets
	client   *clientBudget
	stall    time.Duration
	deadline time.Time
	ctl      *http.ResponseController

	mu   sync.Mutex
	held int64
	err  error
}

func (r *budgetBody) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	if len(p) > bodyChunk {
		p = p[:bodyChunk]
	}
	r.armStall()
	n, err := r.src.Read(p)
	if n > 0 {
		if lerr := r.b.charge(r.client, int64(n)); lerr != nil {
			r.b.metrics.rejected.WithLabelValues(lerr.reason).Inc()
			r.err = lerr
			return 0, lerr
		}
		r.held += int64(n)
	}
	if err == io.EOF && r.stall > 0 {
		// The body is in: the stall deadline must not outlive it (the
		// server's background read would take it for a client gone).
		_ = r.ctl.SetReadDeadline(r.deadline)
	}
	if err != nil && isTimeout(err) {
		r.b.metrics.rejected.WithLabelValues(rejectBodyStalled).Inc()
		r.err = &limitError{code: http.StatusRequestTimeout, reason: rejectBodyStalled,
			msg: "the request body was not sent in time"}
		return n, r.err
	}
	return n, err
}

// armStall sets the read deadline for the next read: each read must bring
// something within the stall timeout, and the whole body must be in by the
// deadline (this replaces the server's own read deadline). Not all writers
// support deadlines (test recorders); the server's ReadTimeout then still
// applies.
func (r *budgetBody) armStall() {
	if r.stall <= 0 {
		return
	}
	d := time.Now().Add(r.stall)
	if d.After(r.deadline) {
		d = r.deadline
	}
	_ = r.ctl.SetReadDeadline(d)
}

func (r *budgetBody) Close() error { return r.src.Close() }

// discardRest reads and drops the rest of a body refused by a budget, up
// to limit bytes and within the body's deadlines, holding no memory for it:
// a client still sending then reads the answer rather than a reset
// connection. It reports whether the body ended (so the connection may be
// kept).
func (r *budgetBody) discardRest(limit int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	var buf [8 << 10]byte
	for n := int64(0); n <= limit; {
		r.armStall()
		k, err := r.src.Read(buf[:])
		n += int64(k)
		if err == io.EOF {
			if r.stall > 0 {
				_ = r.ctl.SetReadDeadline(r.deadline)
			}
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// release returns the bytes charged; the request is over.
func (r *budgetBody) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.b.refund(r.client, r.held)
	r.held = 0
	if r.err == nil {
		r.err = http.ErrBodyReadAfterClose
	}
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
