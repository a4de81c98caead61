package api

import (
	"net"
	"net/http"
	"strconv"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Limits protect the server from overload and from a single greedy client.
type Limits struct {
	// MaxConcurrent caps the requests served at once; beyond it requests get
	// 503 with Retry-After at once rather than queueing. 0 means no cap.
	MaxConcurrent int
	// RatePerClient is the sustained requests per second allowed to one
	// client IP address; 0 disables rate limiting.
	RatePerClient float64
	// Burst is how many requests a client may send at once above the rate.
	Burst int
	// LimitLoopback applies the per-client rate to loopback clients too
	// (off by default: local tools and health checks are not throttled).
	LimitLoopback bool
}

// maxTrackedClients bounds the memory of per-client limiters; the least
// recently seen client's limiter is forgotten first.
const maxTrackedClients = 100_000

// limit applies the concurrency cap and the per-client rate.
func (s *Server) limit(l Limits) func(http.Handler) http.Handler {
	var sem chan struct{}
	if l.MaxConcurrent > 0 {
		sem = make(chan struct{}, l.MaxConcurrent)
	}
	var clients *lru.Cache[string, *rate.Limiter]
	if l.RatePerClient > 0 {
		clients, _ = lru.New[string, *rate.Limiter](maxTrackedClients)
	}
	burst := max(l.Burst, 1)
	retryAfter := "1"
	if l.RatePerClient > 0 && l.RatePerClient < 1 {
		retryAfter = strconv.Itoa(int(1/l.RatePerClient) + 1)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if clients != nil {
				host, _, err := net.SplitHostPort(r.RemoteAddr)
				if err != nil {
					host = r.RemoteAddr
				}
				ip := net.ParseIP(host)
				if l.LimitLoopback || ip == nil || !ip.IsLoopback() {
					lim, ok := clients.Get(host)
					if !ok {
						lim = rate.NewLimiter(rate.Limit(l.RatePerClient), burst)
						clients.Add(host, lim)
					}
					if !lim.Allow() {
						w.Header().Set("Retry-After", retryAfter)
						writeError(w, http.StatusTooManyRequests, "rate limit exceeded; retry later")
						return
					}
				}
			}
			if sem != nil {
				select {
				case sem <- struct{}{}:
					defer func() { <-sem }()
				default:
					w.Header().Set("Retry-After", "1")
					writeError(w, http.StatusServiceUnavailable, "too many concurrent requests; retry later")
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
