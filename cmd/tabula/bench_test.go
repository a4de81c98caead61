package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/loadgen"
	"github.com/tabularium/tabula/signer"
)

// bench runs `tabula bench` and returns the result from its last line, which
// must be the JSON summary.
func bench(t *testing.T, args ...string) loadgen.Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"bench"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("tabula bench %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	var res loadgen.Result
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("last line is not the JSON result: %v\n%s", err, stdout.String())
	}
	return res
}

func TestBench(t *testing.T) {
	c := defaultConfig(t)
	srv, _ := startServe(t, c)

	// 300 writes: more than one full tile, so read-tile has something to read.
	res := bench(t, "--server", srv, "--mode", "write", "--count", "300", "--concurrency", "8", "--verify-sample", "1", "--keys", "3")
	if res.Mode != "write" || res.Ops != 300 || res.Good != 300 || res.Bad != 0 || res.Verified != 300 ||
		res.EndSize != 300 || res.StartSize != 0 || res.PerSecond <= 0 || res.Latency.P50 <= 0 ||
		res.Latency.Max < res.Latency.P99 || res.Latency.P99 < res.Latency.P90 || res.Latency.P90 < res.Latency.P50 {
		t.Fatalf("write: %+v", res)
	}

	for _, tc := range []struct {
		mode     string
		args     []string
		verified bool
	}{
		{"read-entry", nil, true},
		{"read-proof", nil, false},
		{"read-tile", nil, false},
		{"mixed", []string{"--mix", "write=1,read-entry=1,read-proof=1,read-tile=1", "--key-type", "ed25519"}, true},
		{"write", []string{"--key-type", "cert"}, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			args := append([]string{"--server", srv, "--mode", tc.mode, "--count", "40", "--concurrency", "4", "--verify-sample", "1"}, tc.args...)
			res := bench(t, args...)
			if res.Ops != 40 || res.Good != 40 || res.Bad != 0 || len(res.Errors) != 0 || (tc.verified && res.Verified == 0) {
				t.Fatalf("%s: %+v", tc.mode, res)
			}
			if tc.mode == "mixed" && (len(res.ByOp) != 4 || res.ByOp["write"].Good == 0) {
				t.Fatalf("mixed by op: %+v", res.ByOp)
			}
		})
	}

	t.Run("wrong key", func(t *testing.T) {
		k, err := signer.Generate(signer.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		p, err := signer.PublicKeyPEM(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "other.pub.pem")
		if err := os.WriteFile(file, p, 0o644); err != nil {
			t.Fatal(err)
		}
		res := bench(t, "--server", srv, "--mode", "write", "--count", "10", "--concurrency", "2", "--verify-sample", "1", "--public-key", file)
		if res.Good != 0 || res.Bad != 10 || res.Errors[loadgen.ErrVerify] != 10 {
			t.Fatalf("writes verified with a wrong key: %+v", res)
		}
	})

	// Broken answers from a proxy in front of the real server.
	target, err := url.Parse(srv)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		corrupt func([]byte) []byte
		class   string
	}{
		{"no SET", func(b []byte) []byte {
			return regexp.MustCompile(`"signedEntryTimestamp":"[^"]*"`).ReplaceAll(b, []byte(`"signedEntryTimestamp":""`))
		}, loadgen.ErrIncomplete},
		{"no checkpoint", func(b []byte) []byte {
			return regexp.MustCompile(`"checkpoint":"[^"]*",`).ReplaceAll(b, nil)
		}, loadgen.ErrIncomplete},
		{"not JSON", func(b []byte) []byte { return b[:len(b)/2] }, loadgen.ErrIncomplete},
		{"wrong root", func(b []byte) []byte {
			return regexp.MustCompile(`"rootHash":"[0-9a-f]`).ReplaceAllFunc(b, func(m []byte) []byte {
				m = bytes.Clone(m)
				if m[len(m)-1] == '0' {
					m[len(m)-1] = '1'
				} else {
					m[len(m)-1] = '0'
				}
				return m
			})
		}, loadgen.ErrVerify},
		{"wrong index", func(b []byte) []byte {
			return regexp.MustCompile(`"logIndex":(\d+),"verification"`).ReplaceAllFunc(b, func(m []byte) []byte {
				n, _ := strconv.Atoi(string(regexp.MustCompile(`\d+`).Find(m)))
				return []byte(`"logIndex":` + strconv.Itoa(n+1) + `,"verification"`)
			})
		}, loadgen.ErrVerify},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := httputil.NewSingleHostReverseProxy(target)
			proxy.ModifyResponse = func(r *http.Response) error {
				if r.Request.Method != "POST" {
					return nil
				}
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return err
				}
				b = tc.corrupt(b)
				r.Body = io.NopCloser(bytes.NewReader(b))
				r.ContentLength = int64(len(b))
				r.Header.Set("Content-Length", strconv.Itoa(len(b)))
				return nil
			}
			ps := httptest.NewServer(proxy)
			defer ps.Close()
			res := bench(t, "--server", ps.URL, "--mode", "write", "--count", "6", "--concurrency", "2", "--verify-sample", "1")
			if res.Good != 0 || res.Bad != 6 || res.Errors[tc.class] != 6 {
				t.Fatalf("broken answers (%s) counted as: %+v", tc.name, res)
			}
		})
	}

	t.Run("usage", func(t *testing.T) {
		var out bytes.Buffer
		for _, args := range [][]string{
			{"--server", srv, "--mode", "nonsense", "--count", "1"},
			{"--server", srv, "--mode", "mixed", "--mix", "write=x", "--count", "1"},
			{"--server", srv, "--concurrency", "0", "--count", "1"},
		} {
			if code := run(context.Background(), append([]string{"bench"}, args...), &out, &out); code != 1 {
				t.Errorf("bench %v: exit %d, want 1", args, code)
			}
		}
	})
}
