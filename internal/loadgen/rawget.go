package loadgen

// A lean HTTP/1.1 GET client for the read operations: the load tool shares
// the machine with the server it measures, so what it spends per request
// is taken from the server. net/http's client runs two goroutines per
// connection (a read loop and a write loop) and hands each request and
// answer between them; this one writes the request and reads the answer
// in the worker's own goroutine, over one keep-alive connection per worker.
// It is used for plain-HTTP servers when Config.Client is nil.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// rawGetter is one worker's connection; not safe for concurrent use.
type rawGetter struct {
	addr    string // host:port
	host    string // the Host header
	timeout time.Duration
	conn    net.Conn
	br      *bufio.Reader
	req     []byte
}

// newRawGetter returns a getter for server (http://host[:port]), or nil
// if server is not a plain-HTTP URL without a path.
func newRawGetter(server string, timeout time.Duration) *rawGetter {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "http" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawGetter{addr: addr, host: u.Host, timeout: timeout}
}

// errStatus is a non-2xx answer, read whole (the connection stays usable).
type errStatus int

func (e errStatus) Error() string { return "status " + strconv.Itoa(int(e)) }

// get fetches path (with its query) into buf, returning the status code.
// Any error but a non-2xx status closes the connection; the next call
// dials again.
func (g *rawGetter) get(ctx context.Context, path string, buf *bytes.Buffer) (int, error) {
	code, err := g.roundTrip(ctx, path, buf)
	var status errStatus
	if err != nil && !errors.As(err, &status) && g.conn != nil {
		g.conn.Close()
		g.conn = nil
	}
	return code, err
}

func (g *rawGetter) roundTrip(ctx context.Context, path string, buf *bytes.Buffer) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if g.conn == nil {
		d := net.Dialer{Timeout: g.timeout}
		c, err := d.DialContext(ctx, "tcp", g.addr)
		if err != nil {
			return 0, err
		}
		g.conn = c
		if g.br == nil {
			g.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			g.br.Reset(c)
		}
	}
	deadline := time.Now().Add(g.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := g.conn.SetDeadline(deadline); err != nil {
		return 0, err
	}
	g.req = append(g.req[:0], "GET "...)
	g.req = append(g.req, path...)
	g.req = append(g.req, " HTTP/1.1\r\nHost: "...)
	g.req = append(g.req, g.host...)
	g.req = append(g.req, "\r\nUser-Agent: tabula-bench\r\n\r\n"...)
	if _, err := g.conn.Write(g.req); err != nil {
		return 0, err
	}
	return g.readResponse(buf)
}

// readResponse reads one answer: the status line, the headers (it needs
// Content-Length or chunked transfer coding) and the body into buf.
func (g *rawGetter) readResponse(buf *bytes.Buffer) (int, error) {
	line, err := g.line()
	if err != nil {
		return 0, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		h, err := g.line()
		if err != nil {
			return 0, err
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("bad header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "connection"):
			closing = asciiEqualFold(value, "close")
		}
	}
	buf.Reset()
	switch {
	case chunked:
		err = g.readChunked(buf)
	case length >= 0:
		_, err = io.CopyN(buf, g.br, int64(length))
	case code == 204 || code == 304:
	default:
		return 0, errors.New("answer without Content-Length or chunked coding")
	}
	if err != nil {
		return 0, err
	}
	if closing {
		g.conn.Close()
		g.conn = nil
	}
	if code/100 != 2 {
		return code, errStatus(code)
	}
	return code, nil
}

func (g *rawGetter) readChunked(buf *bytes.Buffer) error {
	for {
		line, err := g.line()
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 31)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, up to the empty line
				t, err := g.line()
				if err != nil {
					return err
				}
				if len(t) == 0 {
					return nil
				}
			}
		}
		if _, err := io.CopyN(buf, g.br, int64(n)); err != nil {
			return err
		}
		if crlf, err := g.line(); err != nil || len(crlf) != 0 {
			return errors.New("bad chunk end")
		}
	}
}

// line reads one CRLF-terminated line without its end; it is valid until
// the next read.
func (g *rawGetter) line() ([]byte, error) {
	l, err := g.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("header line too long")
		}
		return nil, err
	}
	l = bytes.TrimSuffix(l[:len(l)-1], []byte("\r"))
	return l, nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
