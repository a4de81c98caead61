package api_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/storage"
)

// hungStore is a store whose Append hangs, ignoring its context, until
// released: a database that stopped answering mid-COMMIT.
type hungStore struct {
	storage.Storage
	hang chan struct{}
}

func (h *hungStore) Append(ctx context.Context, req storage.AppendRequest) error {
	<-h.hang
	return h.Storage.Append(ctx, req)
}

// TestWriteWaitBounded: while the database hangs, a write answers 503 within
// WriteWait rather than holding the client; the entry may still commit, and a
// retry then gets 409.
func TestWriteWaitBounded(t *testing.T) {
	hang := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hang) }) }
	t.Cleanup(release)
	set := logsettest.WrapLogs(engines[0].Open(t), func(s storage.Storage) storage.Storage {
		return &hungStore{Storage: s, hang: hang}
	})
	const wait = 300 * time.Millisecond
	srv := newServerWith(t, logsettest.Engine{Name: "hung", Open: func(testing.TB) storage.LogSet { return set }},
		func(c *api.Config) { c.WriteWait = wait })
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	entry := newEntry(t, sgn, "hung database")

	start := time.Now()
	resp, b := srv.do("POST", "/api/v1/log/entries", entry)
	took := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("write while the database hangs: %d (Retry-After %q) %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if took < wait || took > wait+5*time.Second {
		t.Fatalf("the 503 came after %s, want about %s", took, wait)
	}

	// The database answers again: the queued batch commits, and the retry
	// finds the entry.
	release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, b = srv.do("POST", "/api/v1/log/entries", entry)
		if resp.StatusCode == http.StatusConflict {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("retry after the database recovered: %d %s, want 409", resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
