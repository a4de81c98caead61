package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/testentry"
)

// TestServeDiskCache: with --disk-cache-mib, a server writes each full
// tile with its entries to <data-dir>/cache, and a server started again
// on that directory, with no entry cache, answers an old entry from
// there, the same as before; an impossible size is refused.
func TestServeDiskCache(t *testing.T) {
	bad := defaultConfig(t)
	bad.DiskCacheMiB = -1
	if err := serve(context.Background(), bad, slog.New(slog.DiscardHandler), nil); err == nil {
		t.Error("serve with --disk-cache-mib -1: no error")
	}

	c := defaultConfig(t)
	c.DiskCacheMiB = 16
	url, stop := startServe(t, c)
	s, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	monUpload(t, url, s, "disk cache", 256)
	var files []string
	for range 500 {
		if files, _ = filepath.Glob(filepath.Join(c.DataDir, "cache", "*", "0", "0")); len(files) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("full tile 0 is not in the disk cache: %v", files)
	}
	_, before := httpDo(t, "GET", url+"/api/v1/log/entries?logIndex=100", nil)
	stop()

	c.EntryCacheMiB = 0
	url, _ = startServe(t, c)
	resp, after := httpDo(t, "GET", url+"/api/v1/log/entries?logIndex=100", nil)
	if resp.StatusCode != 200 || string(after) != string(before) {
		t.Fatalf("entry 100 after the restart: %d %s\nbefore: %s", resp.StatusCode, after, before)
	}
	_, metrics := httpDo(t, "GET", "http://"+c.MetricsListen+"/metrics", nil)
	m := regexp.MustCompile(`(?m)^tabula_disk_cache_hits_total (\d+)`).FindSubmatch(metrics)
	if m == nil {
		t.Fatal("no tabula_disk_cache_hits_total metric")
	}
	if n, _ := strconv.Atoi(string(m[1])); n != 1 {
		t.Errorf("%d disk cache hits, want 1", n)
	}
	if _, err := os.Stat(files[0]); err != nil {
		t.Error(err)
	}
}
