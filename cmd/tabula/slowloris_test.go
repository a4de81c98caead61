package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReadHeaderTimeoutDefault: `tabula serve` cuts off slow clients unless
// told otherwise.
func TestReadHeaderTimeoutDefault(t *testing.T) {
	c := serveFlags(flagSetForTest())
	if c.ReadHeaderTimeout <= 0 || c.ReadHeaderTimeout > 30*time.Second {
		t.Fatalf("default --read-header-timeout %v, want a cut-off of at most 30s", c.ReadHeaderTimeout)
	}
}

// TestSlowloris: clients that trickle their request headers one byte a
// second are disconnected by the real server of `tabula serve` once its
// read-header timeout passes, while other clients are served.
func TestSlowloris(t *testing.T) {
	c := defaultConfig(t)
	c.ReadHeaderTimeout = 2 * time.Second
	base, _ := startServe(t, c)
	addr := strings.TrimPrefix(base, "http://")

	// The headers never end: at a byte a second they would take minutes.
	const header = "GET /healthz HTTP/1.1\r\nHost: tabula.test\r\nX-Slow: " +
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
	const clients = 20
	start := time.Now()
	var wg sync.WaitGroup
	cutOff := make(chan time.Duration, clients)
	for range clients {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		wg.Add(2)
		go func() { // the trickle
			defer wg.Done()
			for i := 0; i < len(header); i++ {
				if _, err := conn.Write([]byte{header[i]}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		go func() { // waits for the server to hang up
			defer wg.Done()
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				cutOff <- -1 // never cut off
				conn.Close()
				return
			}
			cutOff <- time.Since(start)
			conn.Close()
		}()
	}

	// Meanwhile the server answers others.
	time.Sleep(500 * time.Millisecond)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("healthz during the slow clients: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz during the slow clients: %d", resp.StatusCode)
	}

	wg.Wait()
	close(cutOff)
	for d := range cutOff {
		if d < 0 {
			t.Fatal("a slow client was not cut off within 30s")
		}
		if d < c.ReadHeaderTimeout-200*time.Millisecond || d > c.ReadHeaderTimeout+5*time.Second {
			t.Fatalf("a slow client was cut off after %v; the read-header timeout is %v", d, c.ReadHeaderTimeout)
		}
	}

	// And after.
	resp, err = http.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("healthz after the slow clients: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz after the slow clients: %d", resp.StatusCode)
	}
}

// TestHugeHeaders: `tabula serve` refuses request headers over its 64 KiB
// limit with 431, and keeps serving.
func TestHugeHeaders(t *testing.T) {
	c := defaultConfig(t)
	base, _ := startServe(t, c)
	req, err := http.NewRequest("GET", base+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 128<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("128 KiB header: %d, want 431", resp.StatusCode)
	}
	resp, err = http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz after: %d", resp.StatusCode)
	}
}
