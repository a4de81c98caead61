package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/testentry"
)

// raiseFileLimit raises the soft limit on open files to want (within the
// hard limit) and returns the limit now in force.
func raiseFileLimit(t *testing.T, want uint64) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < want {
		lim.Cur = min(want, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	return lim.Cur
}

// dialFrom connects to the test server from a loopback source address
// (Linux routes all of 127.0.0.0/8 to the loopback interface).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing from %s: %v", src, err)
	}
	return c
}

// clientFrom is an HTTP client whose connections come from src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: time.Minute}
}

func post(t *testing.T, c *http.Client, url string, body []byte, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/api/v1/log/entries", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// stallPrefix is what stallBody sends of the body.
const stallPrefix = `{"apiVersion":`

// stallBody sends the headers of an upload and the first bytes of its
// body, then nothing more.
func stallBody(t *testing.T, c net.Conn, header string) {
	t.Helper()
	req := "POST /api/v1/log/entries HTTP/1.1\r\nHost: tabula.test\r\nContent-Type: application/json\r\n" +
		header + "Content-Length: 100000\r\n\r\n" + stallPrefix
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
}

// readStatus reads the status code of the answer on c, or 0 if none comes
// within d.
func readStatus(c net.Conn, d time.Duration) int {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSlowBodiesFromOneClient: a client holding thousands of connections
// whose bodies stall cannot take the request slots of others. Its requests
// beyond its share get 429 with Retry-After at once, while another client's
// uploads all succeed. (Without the per-client budget, the stalled requests
// take every one of the server's MaxConcurrent slots and every upload gets
// 503.)
func TestSlowBodiesFromOneClient(t *testing.T) {
	conns := 2000
	if got := raiseFileLimit(t, 3*uint64(conns)+1000); got < 3*uint64(conns)+200 {
		conns = int(got-200) / 3
		t.Logf("open files limited to %d: %d slow connections", got, conns)
	}
	const perClient = 256
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			srv := newServerWith(t, e, func(c *api.Config) {
				c.Limits = api.Limits{
					MaxConcurrent:    conns / 2, // fewer than the slow connections
					ClientRequests:   perClient,
					BodyStallTimeout: 10 * time.Minute, // held until the test closes them
					BodyReadTimeout:  10 * time.Minute,
				}
			})
			addr := strings.TrimPrefix(srv.URL, "http://")

			var (
				mu    sync.Mutex
				codes = map[int]int{}
				slow  []net.Conn
				wg    sync.WaitGroup
			)
			defer func() {
				for _, c := range slow {
					c.Close()
				}
				wg.Wait()
			}()
			for range conns {
				c := dialFrom(t, "127.0.0.2", addr)
				slow = append(slow, c)
				stallBody(t, c, "")
				wg.Add(1)
				go func() {
					defer wg.Done()
					code := readStatus(c, 5*time.Minute)
					mu.Lock()
					codes[code]++
					mu.Unlock()
				}()
			}
			// The requests beyond the client's share are answered at once
			// (checked below: with 429). Bounded wait.
			for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				mu.Lock()
				n := 0
				for _, v := range codes {
					n += v
				}
				mu.Unlock()
				if n >= conns-perClient {
					break
				}
			}

			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			other := clientFrom("127.0.0.1")
			for i := range 20 {
				resp, b := post(t, other, srv.URL, newEntry(t, sgn, fmt.Sprintf("upload %d beside the slow client", i)), nil)
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("upload %d from another client: %d %s", i, resp.StatusCode, b)
				}
			}

			for _, c := range slow {
				c.Close()
			}
			wg.Wait()
			slow = nil
			// The rest were cut when the test closed them (0).
			if codes[http.StatusTooManyRequests] != conns-perClient {
				t.Fatalf("answers to the slow client: %v; want %d 429s and %d cut", codes, conns-perClient, perClient)
			}
		})
	}
}

// TestBodyStall: a body that stops arriving is cut with 408 after the
// stall timeout, and its slot is free again.
func TestBodyStall(t *testing.T) {
	srv := newServerWith(t, engines[0], func(c *api.Config) {
		c.Limits = api.Limits{ClientRequests: 1, BodyStallTimeout: 200 * time.Millisecond}
	})
	addr := strings.TrimPrefix(srv.URL, "http://")
	c := dialFrom(t, "127.0.0.1", addr)
	defer c.Close()
	stallBody(t, c, "")
	if code := readStatus(c, time.Minute); code != http.StatusRequestTimeout {
		t.Fatalf("stalled body: %d, want 408", code)
	}
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := post(t, clientFrom("127.0.0.1"), srv.URL, newEntry(t, sgn, "after the stall"), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload after the stalled one: %d %s", resp.StatusCode, b)
	}
}

// TestForwardedForBudgets: behind a trusted proxy, clients named by
// X-Forwarded-For have budgets of their own; from an untrusted peer the
// header is ignored and the peer's budget applies.
func TestForwardedForBudgets(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := newServerWith(t, engines[0], func(c *api.Config) {
		c.Registerer = reg
		c.Limits = api.Limits{
			ClientRequests:   2,
			BodyStallTimeout: 10 * time.Minute,
			BodyReadTimeout:  10 * time.Minute,
			TrustedProxies:   []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")},
		}
	})
	addr := strings.TrimPrefix(srv.URL, "http://")
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	xff := func(client string) http.Header {
		return http.Header{"X-Forwarded-For": {"203.0.113.1, " + client}}
	}

	// Client A, through the proxy, takes its two requests.
	for range 2 {
		c := dialFrom(t, "127.0.0.3", addr)
		defer c.Close()
		stallBody(t, c, "X-Forwarded-For: 198.51.100.1\r\n")
	}
	// Both are in once their first body bytes are counted.
	waitGauge(t, reg, "tabula_http_body_bytes_in_flight", 2*float64(len(stallPrefix)))
	proxy := clientFrom("127.0.0.3")
	// A third from A is refused once A's two are in.
	untilRefused(t, proxy, srv.URL, sgn, xff("198.51.100.1"))
	// Client B, through the same proxy, is served.
	if resp, b := post(t, proxy, srv.URL, newEntry(t, sgn, "client B"), xff("198.51.100.2")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("client B through the proxy: %d %s", resp.StatusCode, b)
	}
	// A is refused however it spoofs the left of the header.
	resp, _ := post(t, proxy, srv.URL, newEntry(t, sgn, "client A again"), http.Header{"X-Forwarded-For": {"198.51.100.99, 198.51.100.1"}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("client A spoofing through the proxy: %d, want 429", resp.StatusCode)
	}

	// An untrusted peer: its header is ignored, so its two stalled
	// requests take its own budget whatever clients they name.
	for i := range 2 {
		c := dialFrom(t, "127.0.0.4", addr)
		defer c.Close()
		stallBody(t, c, fmt.Sprintf("X-Forwarded-For: 198.51.100.%d\r\n", 10+i))
	}
	waitGauge(t, reg, "tabula_http_body_bytes_in_flight", 4*float64(len(stallPrefix)))
	untilRefused(t, clientFrom("127.0.0.4"), srv.URL, sgn, xff("198.51.100.3"))
}

// untilRefused uploads through c until an upload gets 429 with
// Retry-After. Bounded.
func untilRefused(t *testing.T, c *http.Client, url string, sgn *testentry.Signer, h http.Header) {
	t.Helper()
	for i := range 1000 {
		resp, b := post(t, c, url, newEntry(t, sgn, fmt.Sprintf("until refused %d", i)), h)
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			return
		case http.StatusCreated:
			time.Sleep(10 * time.Millisecond)
		default:
			t.Fatalf("upload: %d %s", resp.StatusCode, b)
		}
	}
	t.Fatal("never refused")
}

// TestBodyByteBudget: bodies in flight beyond the client's byte budget get
// 429, beyond the global budget 503, both with Retry-After; the bytes are
// released when the requests end.
func TestBodyByteBudget(t *testing.T) {
	const body = 64 << 10
	tests := []struct {
		name   string
		limits api.Limits
		want   int
	}{
		{"client budget", api.Limits{ClientBodyBytes: 3 * body / 2, BodyBytesInFlight: -1}, http.StatusTooManyRequests},
		{"global budget", api.Limits{ClientBodyBytes: -1, BodyBytesInFlight: 3 * body / 2}, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.limits.BodyStallTimeout = 10 * time.Minute
			tt.limits.BodyReadTimeout = 10 * time.Minute
			reg := prometheus.NewRegistry()
			srv := newServerWith(t, engines[0], func(c *api.Config) { c.Limits, c.Registerer = tt.limits, reg })
			addr := strings.TrimPrefix(srv.URL, "http://")

			// A request holds a whole body's worth of bytes, its last
			// byte still to come.
			hold := dialFrom(t, "127.0.0.5", addr)
			defer hold.Close()
			head := fmt.Sprintf("POST /api/v1/log/entries HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", body+1)
			if _, err := io.WriteString(hold, head+strings.Repeat(" ", body)); err != nil {
				t.Fatal(err)
			}
			// Once its bytes are in and counted, another body of that size
			// does not fit beside it.
			waitGauge(t, reg, "tabula_http_body_bytes_in_flight", body)
			big := []byte(strings.Repeat(" ", body) + "{}")
			resp, b := post(t, clientFrom("127.0.0.5"), srv.URL, big, nil)
			if resp.StatusCode != tt.want || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("second body: %d (Retry-After %q) %s, want %d with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), b, tt.want)
			}
			// The first ends; its bytes are released.
			if _, err := io.WriteString(hold, " "); err != nil {
				t.Fatal(err)
			}
			if code := readStatus(hold, time.Minute); code != http.StatusUnprocessableEntity {
				t.Fatalf("the held request: %d, want 422 (an empty entry)", code)
			}
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			entry := newEntry(t, sgn, "after the release")
			padded := append([]byte(strings.Repeat(" ", body-len(entry))), entry...)
			if resp, b := post(t, clientFrom("127.0.0.5"), srv.URL, padded, nil); resp.StatusCode != http.StatusCreated {
				t.Fatalf("a body of the same size after the release: %d %s", resp.StatusCode, b)
			}
		})
	}
}

// waitGauge waits (bounded) until the gauge name in reg reads want.
func waitGauge(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	var got float64
	for range 3000 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				got = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s is %v, want %v", name, got, want)
}

// TestDeclaredBodyTooLarge: a Content-Length over the maximum body is
// refused at once with 413, before any byte of the body is read.
func TestDeclaredBodyTooLarge(t *testing.T) {
	srv := newServer(t, engines[0], 1<<10)
	c := dialFrom(t, "127.0.0.1", strings.TrimPrefix(srv.URL, "http://"))
	defer c.Close()
	req := "POST /api/v1/log/entries HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2048\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if code := readStatus(c, time.Minute); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared 2 KiB over a 1 KiB limit: %d, want 413", code)
	}
}
