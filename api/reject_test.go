package api_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// checkSpec validates one response (status, headers, body) against
// openapi.yaml.
func checkSpec(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	doc := loadSpec(t)
	doc.Servers = nil // match any host
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := router.FindRoute(resp.Request)
	if err != nil {
		t.Fatalf("no operation in openapi.yaml for %s %s: %v", resp.Request.Method, resp.Request.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: resp.Request, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("response %d %s does not match openapi.yaml: %v", resp.StatusCode, body, err)
	}
}

// apiError decodes an error answer, checking its status and shape.
func apiError(t *testing.T, resp *http.Response, b []byte, code int) string {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, code, b)
	}
	var e models.Error
	if err := json.Unmarshal(b, &e); err != nil || e.Code != code {
		t.Fatalf("body %.300q is not an error of code %d (%v)", b, code, err)
	}
	checkSpec(t, resp, b)
	return e.Message
}

// bigCertEntry is a validly signed hashedrekord entry whose self-made
// certificate carries an extension of extBytes bytes: a canonical entry of
// about 1.8 × extBytes.
func bigCertEntry(t *testing.T, extBytes int) []byte {
	t.Helper()
	return selfSignedEntry(t, testentry.SelfSigned{ExtensionBytes: extBytes}, "large certificate")
}

// TestEntryTooLarge: an entry whose canonical body is over the C2SP entry
// bundle limit gets 413 with its size and the limit, and nothing is logged;
// one just under it is logged and its bundle is served.
func TestEntryTooLarge(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServer(t, e, 0)
			before := s.logInfo()
			// The 75 KB hashedrekord of the report: 41 KB of extension.
			resp, b := s.do("POST", "/api/v1/log/entries", bigCertEntry(t, 41_000))
			msg := apiError(t, resp, b, http.StatusRequestEntityTooLarge)
			m := regexp.MustCompile(`^the canonical entry is (\d+) bytes; this log holds entries of at most 65535 bytes \(the C2SP entry bundle limit\)$`).FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("message %q does not give the size and the limit", msg)
			}
			t.Log(msg)
			if size, _ := strconv.Atoi(m[1]); size <= merkle.MaxBundleEntry || size > 80_000 {
				t.Fatalf("canonical size %d, want just over %d", size, merkle.MaxBundleEntry)
			}
			if after := s.logInfo(); after.TreeSize != before.TreeSize {
				t.Fatalf("the refused entry moved the tree from %d to %d", before.TreeSize, after.TreeSize)
			}
			// Just under the limit: logged, and its bundle served.
			resp, b = s.do("POST", "/api/v1/log/entries", bigCertEntry(t, 34_000))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("an entry under the limit: %d %.300s", resp.StatusCode, b)
			}
			var le models.LogEntry
			if err := json.Unmarshal(b, &le); err != nil {
				t.Fatal(err)
			}
			_, entry, _ := verifyEntry(t, s.logKey(), le)
			if len(entry.Body) < 60_000 || len(entry.Body) > merkle.MaxBundleEntry {
				t.Fatalf("canonical body of %d bytes, want just under the limit", len(entry.Body))
			}
			resp, b = s.do("GET", fmt.Sprintf("/tile/entries/000.p/%d", entry.LogIndex+1), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("entry bundle: %d %.300s", resp.StatusCode, b)
			}
			bundle, err := merkle.ParseBundle(b)
			if err != nil || !bytes.Equal(bundle[entry.LogIndex], entry.Body) {
				t.Fatalf("entry bundle does not hold the entry (%v)", err)
			}
		})
	}
}

// refusingStore is a real store that cannot hold entries whose body holds
// marker: it refuses every batch with one, writing nothing, naming the
// entry (entryLevel) or not.
type refusingStore struct {
	storage.Storage
	marker     []byte
	entryLevel bool
}

func (r *refusingStore) Append(ctx context.Context, req storage.AppendRequest) error {
	for _, e := range req.Entries {
		switch {
		case !bytes.Contains(e.Body, r.marker):
		case r.entryLevel:
			return &storage.EntryError{Index: e.Index, Err: fmt.Errorf("the test store refuses %s", r.marker)}
		default:
			return fmt.Errorf("%w: the test store refuses %s", storage.ErrRejected, r.marker)
		}
	}
	return r.Storage.Append(ctx, req)
}

// TestRejectedEntry: an entry the storage cannot hold gets 400 saying so,
// alone: the good entries uploaded at the same time get 201.
func TestRejectedEntry(t *testing.T) {
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	// The artifact digest is in the canonical body: the store refuses the
	// poisoned artifact's entries.
	marker := []byte(hex.EncodeToString(sgn.Digest([]byte("poisoned artifact"))))
	for _, e := range engines {
		for _, entryLevel := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/entryLevel=%t", e.Name, entryLevel), func(t *testing.T) {
				set := logsettest.WrapLogs(e.Open(t), func(s storage.Storage) storage.Storage {
					return &refusingStore{Storage: s, marker: marker, entryLevel: entryLevel}
				})
				s := newServer(t, logsettest.Engine{Name: e.Name, Open: func(testing.TB) storage.LogSet { return set }}, 0)
				const good = 12
				var wg sync.WaitGroup
				codes := make([]int, good)
				for i := range good {
					wg.Go(func() {
						resp, b := s.do("POST", "/api/v1/log/entries", newEntry(t, sgn, fmt.Sprintf("good %d", i)))
						if codes[i] = resp.StatusCode; codes[i] != http.StatusCreated {
							t.Errorf("good entry %d: %d %.300s", i, resp.StatusCode, b)
						}
					})
				}
				resp, b := s.do("POST", "/api/v1/log/entries", newEntry(t, sgn, "poisoned artifact"))
				wg.Wait()
				msg := apiError(t, resp, b, http.StatusBadRequest)
				// The store's own words reach the client when it names the
				// entry; a refusal of the whole batch stays in the server log.
				why := "the test store refuses " + string(marker)
				if !entryLevel {
					why = "the database refused its data"
				}
				if !strings.HasPrefix(msg, "error processing entry: the entry cannot be stored: ") ||
					!strings.Contains(msg, why) {
					t.Fatalf("message %q does not say the entry cannot be stored and why", msg)
				}
				if resp.Header.Get("Retry-After") != "" {
					t.Fatal("a refused entry is told to retry")
				}
				if info := s.logInfo(); info.TreeSize != good {
					t.Fatalf("tree size %d, want the %d good entries", info.TreeSize, good)
				}
			})
		}
	}
}
