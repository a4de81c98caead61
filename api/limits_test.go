package api

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestLimits(t *testing.T) {
	s := &Server{metrics: newHTTPMetrics(nil)}
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

	t.Run("concurrency cap", func(t *testing.T) {
		h := s.limit(Limits{MaxConcurrent: 2})(slow)
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			}()
		}
		<-entered
		<-entered
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("third concurrent request: %d", rec.Code)
		}
		close(release)
		wg.Wait()
		rec = httptest.NewRecorder()
		s.limit(Limits{MaxConcurrent: 2})(ok).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 200 {
			t.Fatalf("after the others finished: %d", rec.Code)
		}
	})

	tests := []struct {
		name     string
		limits   Limits
		remote   string
		allowed  int // of 10 requests in a burst
		limited  bool
		otherIPs bool
	}{
		{"remote client limited", Limits{RatePerClient: 0.001, Burst: 3}, "192.0.2.1:1234", 3, true, true},
		{"loopback exempt by default", Limits{RatePerClient: 0.001, Burst: 3}, "127.0.0.1:1234", 10, false, false},
		{"loopback limited when asked", Limits{RatePerClient: 0.001, Burst: 3, LimitLoopback: true}, "[::1]:1234", 3, true, false},
		{"off", Limits{}, "192.0.2.1:1234", 10, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := s.limit(tt.limits)(ok)
			allowed := 0
			for range 10 {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", "/", nil)
				req.RemoteAddr = tt.remote
				h.ServeHTTP(rec, req)
				switch rec.Code {
				case 200:
					allowed++
				case http.StatusTooManyRequests:
					if rec.Header().Get("Retry-After") == "" {
						t.Fatal("429 without Retry-After")
					}
				default:
					t.Fatalf("status %d", rec.Code)
				}
			}
			if allowed != tt.allowed {
				t.Fatalf("%d of 10 allowed, want %d", allowed, tt.allowed)
			}
			if tt.otherIPs {
				// Another client has its own budget.
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", "/", nil)
				req.RemoteAddr = "192.0.2.2:1"
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Fatalf("another client: %d", rec.Code)
				}
			}
		})
	}
}
