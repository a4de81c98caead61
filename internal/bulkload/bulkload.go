// Package bulkload builds a large log quickly through the log's own write
// path, for scale measurements (`tabula bench load`).
//
// Entries are distinct hashedrekord entries with real signatures (ECDSA
// P-256 keys, or Fulcio-style certificates), appended with log.Add: the
// batcher, duplicate check, SET signing, tile extension, checkpoint signing
// and storage.Append are exactly the server's. What is skipped is HTTP and,
// for most entries, the entry type's signature verification: per key, one
// template entry goes through the type's full Canonicalize (parse, verify,
// canonical body, search keys), and every other entry of that key is the
// template with its digest and signature substituted (the canonical form
// orders keys, not values, so the bytes are what Canonicalize would give).
// One entry in CheckEvery goes through Canonicalize in full and must match
// its substituted form byte for byte, so the shortcut is checked as it runs.
package bulkload

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/types"
)

// Key kinds of the generated entries.
const (
	KeyECDSA = "ecdsa" // ECDSA P-256, PUBLIC KEY PEM
	KeyCert  = "cert"  // ECDSA P-256 with a Fulcio-style certificate
)

// Config is one load.
type Config struct {
	// Log receives the entries. Required.
	Log *log.Log
	// Types canonicalizes the template and checked entries; it must accept
	// hashedrekord. Required.
	Types *types.Registry
	// Entries is how many entries to add.
	Entries int
	// Keys is how many signing keys the entries are spread over (default 16).
	Keys int
	// KeyKind is KeyECDSA (default) or KeyCert.
	KeyKind string
	// Workers is how many Add calls are in flight (default 4096): enough to
	// fill a batch while the previous one integrates.
	Workers int
	// CheckEvery: one entry in CheckEvery is canonicalized in full and
	// compared (default 1000; 1 checks every entry).
	CheckEvery int
	// Progress receives a line every ProgressEvery (default 10 s); nil: none.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Result is what a load did.
type Result struct {
	Added      int     `json:"added"`
	Duplicates int     `json:"duplicates"`
	Checked    int     `json:"checked"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`
	StartSize  uint64  `json:"start_tree_size"`
	EndSize    uint64  `json:"end_tree_size"`
}

// template is one key's canonical entry, the pattern of all its entries.
type template struct {
	signer *testentry.Signer
	body   []byte
	keys   []types.SearchKey
	digest string // hex, as in the body and the search keys
	sig    string // base64, as in the body
}

// Run adds cfg.Entries entries and returns what it did. It stops at the first
// error (a failed Add other than pushback, or a failed check); entries added
// before it stay in the log.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Log == nil || cfg.Types == nil {
		return Result{}, errors.New("bulkload: Log and Types are required")
	}
	if cfg.Entries < 0 {
		return Result{}, errors.New("bulkload: Entries must not be negative")
	}
	if cfg.Keys <= 0 {
		cfg.Keys = 16
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4096
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = 1000
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 10 * time.Second
	}
	var run [8]byte
	if _, err := rand.Read(run[:]); err != nil {
		return Result{}, err
	}
	tmpls, err := templates(ctx, cfg, run)
	if err != nil {
		return Result{}, err
	}
	head, err := cfg.Log.Head(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("bulkload: reading the head: %w", err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Signing the entries is CPU work; Add is mostly waiting. Few generator
	// goroutines feed many adders, so the integrator is not queued behind
	// thousands of runnable signers.
	var added, dups, checked atomic.Int64
	leaves := make(chan log.Leaf, cfg.Workers)
	start := time.Now()
	var gen sync.WaitGroup
	var next atomic.Int64
	for range max(1, runtime.GOMAXPROCS(0)-1) {
		gen.Add(1)
		go func() {
			defer gen.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.Entries {
					return
				}
				leaf, full, err := tmpls[i%len(tmpls)].entry(ctx, cfg, run, i)
				if err != nil {
					cancel(err)
					return
				}
				if full {
					checked.Add(1)
				}
				select {
				case leaves <- leaf:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { gen.Wait(); close(leaves) }()
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for leaf := range leaves {
				if ctx.Err() != nil {
					continue // drain
				}
				dup, err := add(ctx, cfg.Log, leaf)
				if err != nil {
					cancel(fmt.Errorf("bulkload: %w", err))
					continue
				}
				if dup {
					dups.Add(1)
				} else {
					added.Add(1)
				}
			}
		}()
	}
	stop := progress(cfg, start, &added)
	wg.Wait()
	stop()

	res := Result{
		Added:      int(added.Load()),
		Duplicates: int(dups.Load()),
		Checked:    int(checked.Load()),
		Seconds:    time.Since(start).Seconds(),
		StartSize:  head.Size,
	}
	if res.Seconds > 0 {
		res.PerSecond = float64(res.Added) / res.Seconds
	}
	if end, err := cfg.Log.Head(context.WithoutCancel(ctx)); err == nil {
		res.EndSize = end.Size
	}
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// add appends one leaf, waiting out pushback. It reports a duplicate rather
// than failing on it. Any other refusal (an entry too large, data the
// storage cannot hold) stops the load: its entries are all alike, so the
// next would be refused too.
func add(ctx context.Context, l *log.Log, leaf log.Leaf) (dup bool, err error) {
	for {
		_, err := l.Add(ctx, leaf)
		var de *log.DuplicateError
		switch {
		case err == nil:
			return false, nil
		case errors.As(err, &de):
			return true, nil
		case errors.Is(err, log.ErrPushback):
			select {
			case <-time.After(5 * time.Millisecond):
			case <-ctx.Done():
				return false, context.Cause(ctx)
			}
		default:
			return false, err
		}
	}
}

// templates makes the keys and one fully canonicalized entry per key.
func templates(ctx context.Context, cfg Config, run [8]byte) ([]*template, error) {
	tmpls := make([]*template, cfg.Keys)
	for k := range tmpls {
		var s *testentry.Signer
		var err error
		switch cfg.KeyKind {
		case "", KeyECDSA:
			s, err = testentry.NewSigner()
		case KeyCert:
			s, err = testentry.NewCertSigner(fmt.Sprintf("load%d@tabula.invalid", k))
		default:
			return nil, fmt.Errorf("bulkload: unknown key kind %q (want %s or %s)", cfg.KeyKind, KeyECDSA, KeyCert)
		}
		if err != nil {
			return nil, fmt.Errorf("bulkload: generating key: %w", err)
		}
		if tmpls[k], err = newTemplate(ctx, cfg.Types, s, run, k); err != nil {
			return nil, err
		}
	}
	return tmpls, nil
}

// newTemplate is key k's template entry, fully canonicalized. A template
// whose body the log would refuse as too large fails the load before it
// starts, as log.Add would fail each of its entries: with a
// *log.EntryTooLargeError.
func newTemplate(ctx context.Context, reg *types.Registry, s *testentry.Signer, run [8]byte, k int) (*template, error) {
	digest := s.Digest(fmt.Appendf(nil, "tabula bulk load template %x %d", run, k))
	sig, err := s.SignDigest(digest)
	if err != nil {
		return nil, fmt.Errorf("bulkload: signing: %w", err)
	}
	c, err := canonical(ctx, reg, s, digest, sig)
	if err != nil {
		return nil, err
	}
	if len(c.Body) > merkle.MaxBundleEntry {
		return nil, fmt.Errorf("bulkload: template %d: %w", k, &log.EntryTooLargeError{Size: len(c.Body), Limit: merkle.MaxBundleEntry})
	}
	t := &template{signer: s, body: c.Body, keys: c.SearchKeys,
		digest: hex.EncodeToString(digest), sig: base64.StdEncoding.EncodeToString(sig)}
	if bytes.Count(t.body, []byte(t.digest)) != 1 || bytes.Count(t.body, []byte(t.sig)) != 1 {
		return nil, errors.New("bulkload: the template's digest or signature is not found exactly once in its body")
	}
	return t, nil
}

// canonical runs a proposal through the entry type, as the API does.
func canonical(ctx context.Context, reg *types.Registry, s *testentry.Signer, digest, sig []byte) (types.Canonical, error) {
	proposed, err := s.HashedRekordSigned(digest, sig)
	if err != nil {
		return types.Canonical{}, fmt.Errorf("bulkload: %w", err)
	}
	c, err := reg.Canonicalize(ctx, proposed)
	if err != nil {
		return types.Canonical{}, fmt.Errorf("bulkload: canonicalizing: %w", err)
	}
	return c, nil
}

// entry makes entry i of the load from template t; full reports whether it
// was also canonicalized in full and checked.
func (t *template) entry(ctx context.Context, cfg Config, run [8]byte, i int) (leaf log.Leaf, full bool, err error) {
	digest := t.signer.Digest(fmt.Appendf(nil, "tabula bulk load %x %d", run, i))
	sig, err := t.signer.SignDigest(digest)
	if err != nil {
		return log.Leaf{}, false, fmt.Errorf("bulkload: signing: %w", err)
	}
	hexDigest, b64Sig := hex.EncodeToString(digest), base64.StdEncoding.EncodeToString(sig)
	body := bytes.Replace(t.body, []byte(t.digest), []byte(hexDigest), 1)
	body = bytes.Replace(body, []byte(t.sig), []byte(b64Sig), 1)
	keys := make([]types.SearchKey, len(t.keys))
	for j, k := range t.keys {
		keys[j] = k
		if k.Kind == types.KindDigest {
			keys[j].Value = strings.Replace(k.Value, t.digest, hexDigest, 1)
		}
	}
	leaf = log.Leaf{Body: body, SearchKeys: types.SearchKeyHashes(keys)}
	if i%cfg.CheckEvery != 0 {
		return leaf, false, nil
	}
	c, err := canonical(ctx, cfg.Types, t.signer, digest, sig)
	if err != nil {
		return log.Leaf{}, false, err
	}
	if !bytes.Equal(c.Body, body) || !slices.Equal(c.SearchKeys, keys) {
		return log.Leaf{}, false, fmt.Errorf("bulkload: entry %d: the substituted entry differs from the canonicalized one:\n%s\n%s", i, body, c.Body)
	}
	return leaf, true, nil
}

// progress prints a line every cfg.ProgressEvery until stopped.
func progress(cfg Config, start time.Time, added *atomic.Int64) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(cfg.ProgressEvery)
		defer tick.Stop()
		last, lastT := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				n := added.Load()
				rate := float64(n-last) / now.Sub(lastT).Seconds()
				fmt.Fprintf(cfg.Progress, "%s  %d/%d entries  %.0f/s now  %.0f/s overall\n",
					now.Sub(start).Truncate(time.Second), n, cfg.Entries, rate, float64(n)/now.Sub(start).Seconds())
				last, lastT = n, now
			}
		}
	}()
	return func() { close(done); <-finished }
}
