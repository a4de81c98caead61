package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRawGetter: the lean GET client reads answers with Content-Length and
// chunked ones, keeps its connection across requests, reconnects after
// Connection: close, reports a non-2xx status with its body read (the
// connection stays usable), and refuses a URL it cannot serve.
func TestRawGetter(t *testing.T) {
	big := strings.Repeat("tile", 3000) // over net/http's buffer: chunked
	conns := map[string]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns[r.RemoteAddr] = true
		switch r.URL.Path {
		case "/small":
			w.Header().Set("Content-Length", "5")
			_, _ = w.Write([]byte("small"))
		case "/chunked":
			_, _ = w.Write([]byte(big))
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("bye"))
		case "/missing":
			http.Error(w, "no such thing", http.StatusNotFound)
		default:
			_, _ = w.Write([]byte(r.URL.RawQuery))
		}
	}))
	srv.Start()
	defer srv.Close()

	g := newRawGetter(srv.URL, 5*time.Second)
	if g == nil {
		t.Fatal("no getter for", srv.URL)
	}
	ctx := context.Background()
	var buf bytes.Buffer
	tests := []struct {
		path  string
		code  int
		body  string
		isErr bool
	}{
		{"/small", 200, "small", false},
		{"/chunked", 200, big, false},
		{"/q?logIndex=7", 200, "logIndex=7", false},
		{"/missing", 404, "no such thing\n", true},
		{"/small", 200, "small", false}, // the same connection after a 404
		{"/close", 200, "bye", false},
		{"/small", 200, "small", false}, // a new connection
	}
	for _, tc := range tests {
		code, err := g.get(ctx, tc.path, &buf)
		var status errStatus
		if code != tc.code || buf.String() != tc.body || (err != nil) != tc.isErr || (tc.isErr && !errors.As(err, &status)) {
			t.Fatalf("GET %s: %d %q %v, want %d %q", tc.path, code, buf.String(), err, tc.code, tc.body)
		}
	}
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2 (one closed by the server)", len(conns))
	}
	for _, u := range []string{"https://example.test", "http://example.test/base", "http://u:p@example.test", "::"} {
		if newRawGetter(u, time.Second) != nil {
			t.Errorf("getter for %q", u)
		}
	}
}

// TestRawGetterBadAnswers: an answer the getter cannot read is an error,
// and the next request dials again.
func TestRawGetterBadAnswers(t *testing.T) {
	for _, tc := range []struct{ name, answer string }{
		{"bad status line", "HTP/1.1 200 OK\r\n\r\n"},
		{"no length", "HTTP/1.1 200 OK\r\n\r\nbody"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
							_, _ = c.Write([]byte(tc.answer))
						}
					}()
				}
			}()
			g := newRawGetter("http://"+ln.Addr().String(), 2*time.Second)
			var buf bytes.Buffer
			for range 2 {
				if code, err := g.get(context.Background(), "/x", &buf); err == nil {
					t.Fatalf("answer %q: %d, no error", tc.answer, code)
				}
				if g.conn != nil {
					t.Fatal("connection kept after a bad answer")
				}
			}
		})
	}
}

// TestLooksLikeEntry: the cheap check passes a real LogEntry answer and
// fails one missing any part a client needs.
func TestLooksLikeEntry(t *testing.T) {
	good := `{"abc":{"body":"e30=","integratedTime":1,"logID":"00","logIndex":0,"verification":{"inclusionProof":{"checkpoint":"c","hashes":[],"logIndex":0,"rootHash":"00","treeSize":1},"signedEntryTimestamp":"MA=="}}}` + "\n"
	if !looksLikeEntry([]byte(good)) {
		t.Fatal("a good answer failed")
	}
	for _, p := range entryParts {
		bad := strings.ReplaceAll(good, string(p), `"other":`)
		if looksLikeEntry([]byte(bad)) {
			t.Errorf("an answer without %s passed", p)
		}
	}
	for _, bad := range []string{"", "[]", `{"body":"`, "not json"} {
		if looksLikeEntry([]byte(bad)) {
			t.Errorf("%q passed", bad)
		}
	}
}
