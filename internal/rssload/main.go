// Command rssload measures the memory of a real `tabula serve` under many
// concurrent large request bodies (issue 10: 200 concurrent 4 MiB bodies).
//
// It starts the given tabula binary on a fresh data directory (embedded
// SQLite) on loopback, sends -rounds rounds of -n concurrent uploads of a
// hashedrekord-shaped body of -size bytes (read whole by the server, then
// refused: its signature is not valid), each from one of -sources loopback
// source addresses (127.0.0.10 and up; Linux routes all of 127/8 to lo),
// samples VmRSS and VmHWM of the server from /proc/<pid>/status, and
// prints the peaks and the answers by status.
//
//	go build -o /tmp/tabula ./cmd/tabula
//	go run ./internal/rssload -tabula /tmp/tabula
//
// Arguments after -- are passed to `tabula serve`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rssload:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("tabula", "", "tabula binary (required)")
	n := flag.Int("n", 200, "concurrent uploads per round")
	rounds := flag.Int("rounds", 3, "rounds")
	size := flag.Int("size", 4<<20-1024, "body size in bytes")
	sources := flag.Int("sources", 200, "distinct loopback source addresses (1: one client)")
	flag.Parse()
	if *bin == "" {
		return errors.New("-tabula is required")
	}
	if *sources < 1 || *sources > 240 {
		return errors.New("-sources must be 1 to 240")
	}
	dir, err := os.MkdirTemp("", "rssload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	args := append([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--metrics-listen", ""}, flag.Args()...)
	cmd := exec.Command(*bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	url, err := serverURL(stderr)
	if err != nil {
		return err
	}
	pid := cmd.Process.Pid
	idle, _, err := memory(pid)
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancel(context.Background())
	var peakRSS int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			if rss, _, err := memory(pid); err == nil && rss > peakRSS {
				peakRSS = rss
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	body := hashedrekordBody(*size)
	codes := map[string]int{}
	var mu sync.Mutex
	start := time.Now()
	for range *rounds {
		var wg sync.WaitGroup
		for i := range *n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code := upload(url, net.IPv4(127, 0, 0, byte(10+i%*sources)), body)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	stop()
	<-sampled
	_, hwm, err := memory(pid)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var answers []string
	for _, k := range keys {
		answers = append(answers, fmt.Sprintf("%s×%d", k, codes[k]))
	}
	fmt.Printf("bodies: %d rounds × %d concurrent × %d bytes from %d source addresses in %v\n",
		*rounds, *n, *size, *sources, elapsed.Round(time.Millisecond))
	fmt.Printf("answers: %s\n", strings.Join(answers, " "))
	fmt.Printf("RSS: idle %d MiB, peak sampled %d MiB, VmHWM %d MiB\n", idle>>20, peakRSS>>20, hwm>>20)
	return nil
}

// hashedrekordBody is a hashedrekord proposed entry whose signature content
// is padded with base64 to size bytes: the server reads and parses it whole.
func hashedrekordBody(size int) []byte {
	head := `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"` +
		strings.Repeat("ab", 32) + `"}},"signature":{"publicKey":{"content":"AAAA"},"content":"`
	tail := `"}}}`
	pad := max(size-len(head)-len(tail), 0) &^ 3
	var b bytes.Buffer
	b.WriteString(head)
	b.Write(bytes.Repeat([]byte("QUFB"), pad/4))
	b.WriteString(tail)
	return b.Bytes()
}

func upload(url string, src net.IP, body []byte) string {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	client := &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout:   2 * time.Minute,
	}
	resp, err := client.Post(url+"/api/v1/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		return "error"
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return strconv.Itoa(resp.StatusCode)
}

// serverURL reads the server's JSON log until it says where it serves,
// then keeps draining it.
func serverURL(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "tabula serving" {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return line.URL, nil
		}
	}
	return "", fmt.Errorf("the server exited before serving: %v", sc.Err())
}

// memory returns VmRSS and VmHWM of pid in bytes.
func memory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			hwm = v << 10
		}
	}
	return rss, hwm, nil
}
