package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/loadgen"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
)

// startCeiling runs `tabula bench ceiling` in-process until the test ends
// and returns its base URL.
func startCeiling(t *testing.T, c *ceilingConfig) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- benchCeiling(ctx, c, logger, ready) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("bench ceiling: %v", err)
			}
		})
		return "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("bench ceiling exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("bench ceiling did not start")
	}
	return ""
}

// ceilingKey writes a new log key into dir and returns its file and signer.
func ceilingKey(t *testing.T, dir string) (string, *signer.Local) {
	t.Helper()
	priv, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ceiling-key.pem")
	if err := signer.WriteFiles(priv, file, publicKeyPath(file)); err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(priv)
	if err != nil {
		t.Fatal(err)
	}
	return file, s
}

// jsonShape lists the paths of the object keys of a JSON value, the
// EntryID key as "<id>", and each array as "[]".
func jsonShape(v any, path string, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if path == "" {
				k = "<id>"
			}
			*out = append(*out, path+"/"+k)
			jsonShape(x, path+"/"+k, out)
		}
	case []any:
		*out = append(*out, path+"[]")
	}
}

func shapeOf(t *testing.T, b []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	var out []string
	jsonShape(v, "", &out)
	sort.Strings(out)
	return out
}

// TestCeilingWrite posts real hashedrekords to the ceiling server: each
// gets 201 with the EntryID as Location, the canonical body (the one the
// real server logs for the same entry), the next index from the counter,
// the key's log ID, and a SET that verifies with the key over the Rekor
// payload; the answer has the real server's shape. GET /api/v1/log and
// the public key are what `tabula bench` reads, and `tabula bench
// --ceiling` accepts and verifies the writes.
func TestCeilingWrite(t *testing.T) {
	dir := t.TempDir()
	keyFile, key := ceilingKey(t, dir)
	ceil := startCeiling(t, &ceilingConfig{Listen: "127.0.0.1:0", Key: keyFile, Hostname: defaultHostname, TreeID: 7})
	real, _ := startServe(t, defaultConfig(t))

	es, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	for i, artifact := range []string{"first", "second", "third"} {
		entry, err := es.HashedRekord([]byte(artifact))
		if err != nil {
			t.Fatal(err)
		}
		resp, b := httpDo(t, "POST", ceil+"/api/v1/log/entries", entry)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: status %d, body %s", artifact, resp.StatusCode, b)
		}
		var le models.LogEntry
		if err := json.Unmarshal(b, &le); err != nil || len(le) != 1 {
			t.Fatalf("%s: answer %s: %v", artifact, b, err)
		}
		var id string
		var e models.LogEntryAnon
		for id, e = range le {
		}
		leaf := merkle.LeafHash(e.Body)
		if want := "0000000000000007" + hex.EncodeToString(leaf[:]); id != want || resp.Header.Get("Location") != "/api/v1/log/entries/"+want {
			t.Errorf("%s: EntryID %s, Location %s, want %s", artifact, id, resp.Header.Get("Location"), want)
		}
		if e.LogIndex != int64(i) {
			t.Errorf("%s: logIndex %d, want %d", artifact, e.LogIndex, i)
		}
		lid := key.LogID()
		if e.LogID != hex.EncodeToString(lid[:]) {
			t.Errorf("%s: logID %s, want %x", artifact, e.LogID, lid)
		}
		if e.Verification == nil || len(e.Verification.SignedEntryTimestamp) == 0 || e.Verification.InclusionProof == nil {
			t.Fatalf("%s: no SET or proof in %s", artifact, b)
		}
		if err := signer.Verify(key.Public(), rekorv1.SETPayload(e.Body, e.IntegratedTime, lid, uint64(e.LogIndex)), e.Verification.SignedEntryTimestamp); err != nil {
			t.Errorf("%s: SET: %v", artifact, err)
		}
		if err := signer.Verify(key.Public(), rekorv1.SETPayload(e.Body, e.IntegratedTime, lid, uint64(e.LogIndex)+1), e.Verification.SignedEntryTimestamp); err == nil {
			t.Errorf("%s: the SET verifies for another index", artifact)
		}

		// The real server logs the same canonical body, in the same shape.
		rresp, rb := httpDo(t, "POST", real+"/api/v1/log/entries", entry)
		if rresp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: real server: status %d, body %s", artifact, rresp.StatusCode, rb)
		}
		var rle models.LogEntry
		if err := json.Unmarshal(rb, &rle); err != nil {
			t.Fatal(err)
		}
		for _, re := range rle {
			if !bytes.Equal(re.Body, e.Body) {
				t.Errorf("%s: body %s, the real server's %s", artifact, e.Body, re.Body)
			}
		}
		if got, want := shapeOf(t, b), shapeOf(t, rb); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: answer's fields %v, the real server's %v", artifact, got, want)
		}
		if got, want := resp.Header.Get("Content-Type"), rresp.Header.Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, the real server's %q", artifact, got, want)
		}
	}

	var out bytes.Buffer
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Server: ceil, Mode: loadgen.ModeWrite, Ceiling: true, Concurrency: 4, Count: 40, VerifySample: 1,
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Good != 40 || res.Verified != 40 || res.StartSize != 3 || res.EndSize != 43 {
		t.Errorf("bench --ceiling: %d good, %d verified, tree size %d → %d; want 40, 40, 3 → 43\n%s", res.Good, res.Verified, res.StartSize, res.EndSize, out.String())
	}
}

// TestCeilingRejects posts bad entries to the ceiling and to the real
// server: each gets the same status and error body from both.
func TestCeilingRejects(t *testing.T) {
	ceil := startCeiling(t, &ceilingConfig{Listen: "127.0.0.1:0", Hostname: defaultHostname, TreeID: 1})
	real, _ := startServe(t, defaultConfig(t))

	es, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	other, err := es.HashedRekord([]byte("other"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := es.SignDigest(es.Digest([]byte("signed")))
	if err != nil {
		t.Fatal(err)
	}
	badSig, err := es.HashedRekordSigned(es.Digest([]byte("not signed")), sig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"empty", nil, http.StatusUnprocessableEntity},
		{"not JSON", []byte("{"), http.StatusBadRequest},
		{"trailing data", append(append([]byte(nil), other...), "{}"...), http.StatusBadRequest},
		{"unknown kind", []byte(`{"kind":"nope","apiVersion":"0.0.1","spec":{}}`), http.StatusUnprocessableEntity},
		{"unknown version", []byte(`{"kind":"hashedrekord","apiVersion":"9.9.9","spec":{}}`), http.StatusBadRequest},
		{"no spec", []byte(`{"kind":"hashedrekord","apiVersion":"0.0.1"}`), http.StatusUnprocessableEntity},
		{"signature over another digest", badSig, http.StatusBadRequest},
		{"too large", bytes.Repeat([]byte(" "), 4<<20+1), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := httpDo(t, "POST", ceil+"/api/v1/log/entries", tc.body)
			rresp, rb := httpDo(t, "POST", real+"/api/v1/log/entries", tc.body)
			if resp.StatusCode != tc.want || rresp.StatusCode != tc.want {
				t.Errorf("status %d (real server: %d), want %d", resp.StatusCode, rresp.StatusCode, tc.want)
			}
			if !bytes.Equal(b, rb) {
				t.Errorf("answer %s, the real server's %s", b, rb)
			}
			if !strings.Contains(string(b), `"code":`) {
				t.Errorf("answer %s is not an API error", b)
			}
		})
	}
}
