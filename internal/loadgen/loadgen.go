// Package loadgen is the load tool behind `tabula bench`: it drives a
// Rekor-compatible server through its HTTP API and measures it.
//
// With the v1 API (the default):
// Writes go to POST /api/v1/log/entries with distinct signed hashedrekord
// or dsse entries made before the clock starts; reads use GET /api/v1/log/entries,
// GET /api/v1/log/proof and (read-tile) the C2SP tlog-tiles /tile/ paths,
// which Rekor v1 does not serve. A write or entry read counts as good only if
// its response carries the index, an inclusion proof with its checkpoint, and
// a SET; a sample of them is verified cryptographically with the key from
// /api/v1/log/publicKey.
//
// With the v2 API (v2.go), writes go to POST /api/v2/log/entries with
// hashedrekord 0.0.2 requests and tiles are read under /api/v2/; a write
// counts as good only if its answer (201) carries the index, the log's key
// ID, the canonicalized body and an inclusion proof with its checkpoint,
// and a sample is verified against the log's key and origin from GET /logs.
package loadgen

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/verify"
)

// Modes.
const (
	ModeWrite     = "write"
	ModeReadEntry = "read-entry"
	ModeReadProof = "read-proof"
	ModeReadTile  = "read-tile"
	ModeMixed     = "mixed"
	// ModeSearchEmail searches the index by email (POST
	// /api/v1/index/retrieve), an address of Config.SearchEmail at random.
	ModeSearchEmail = "search-email"
)

// Key kinds of the generated entries.
const (
	KeyECDSA   = "ecdsa"   // ECDSA P-256, PUBLIC KEY PEM
	KeyCert    = "cert"    // ECDSA P-256 with a Fulcio-style certificate
	KeyEd25519 = "ed25519" // Ed25519ph, PUBLIC KEY PEM
)

// Error classes, beside HTTP status codes.
const (
	ErrTransport  = "transport"           // no HTTP response
	ErrIncomplete = "incomplete-response" // 2xx without the parts a good answer needs
	ErrVerify     = "verify-failed"       // a sampled response did not verify
)

// Config is one run.
type Config struct {
	Server      string        // base URL, e.g. http://127.0.0.1:3000
	API         string        // APIV1 (the default) or APIV2
	Mode        string        // one of the Mode* constants
	Concurrency int           // workers
	Duration    time.Duration // run length, when Count is 0
	Count       int           // total operations (0: run for Duration)
	// Entries is how many entries to pre-generate for writes when Count is
	// 0; a run stops early when they are used up.
	Entries int
	Keys    int    // distinct signing keys the entries are spread over
	KeyKind string // one of the Key* constants
	// EntryKind is the kind of the entries written: EntryHashedRekord (the
	// default) or EntryDSSE.
	EntryKind string
	// VerifySample: verify one response in VerifySample cryptographically
	// (0: none, 1: all).
	VerifySample int
	// Ceiling says the server is `tabula bench ceiling` (api.NewCeiling),
	// whose inclusion proofs are dummies: a verified v1 answer then has its
	// log ID, UUID and SET checked, not its proof (v1 writes only).
	Ceiling bool
	// Mix weighs the operations of the mixed mode, e.g.
	// "write=10,read-entry=40,read-proof=20,read-tile=30" (empty:
	// DefaultMix, or DefaultMixV2 with APIV2).
	Mix string
	// PublicKeyPEM overrides the log key fetched from the server (v2: the
	// active v2 log's, its key ID computed from its origin).
	PublicKeyPEM []byte
	Timeout      time.Duration // per request
	Client       *http.Client  // nil: a keep-alive client sized for Concurrency
	Seed         uint64        // random choices of reads (0: random)
	// SearchEmail is the address searched by ModeSearchEmail; a %d in it is
	// replaced by a number in [0, Keys) chosen at random per request (as
	// tabula bench load --key-type cert names its keys' addresses:
	// load%d@tabula.invalid).
	SearchEmail string
	// CPUProfile, if not empty, is a file to write the load tool's own CPU
	// profile of the measured run to (its cost per request shares the
	// machine with the server's).
	CPUProfile string
}

// DefaultMix is the mixed mode's default weighting.
const DefaultMix = "write=10,read-entry=40,read-proof=20,read-tile=30"

// Result is a run's outcome, written as the final JSON line.
type Result struct {
	API         string             `json:"api,omitempty"` // v2, or empty for v1
	Mode        string             `json:"mode"`
	Server      string             `json:"server"`
	Concurrency int                `json:"concurrency"`
	Seconds     float64            `json:"seconds"`
	Ops         int                `json:"ops"`
	Good        int                `json:"good"`
	Bad         int                `json:"bad"`
	PerSecond   float64            `json:"per_second"` // good operations a second
	Latency     Latency            `json:"latency_ms"`
	Errors      map[string]int     `json:"errors"`
	Verified    int                `json:"verified"`
	Exhausted   bool               `json:"exhausted,omitempty"` // pre-generated entries ran out
	StartSize   int64              `json:"start_tree_size"`
	EndSize     int64              `json:"end_tree_size"`
	ByOp        map[string]*Result `json:"by_op,omitempty"` // mixed mode
}

// Latency percentiles in milliseconds, over all operations (good or bad).
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Run prepares the entries, runs cfg against the server, writes a report to
// out ending with one JSON line, and returns the result.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	mix, err := parseMix(cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, mix: mix, client: cfg.Client}
	if r.client == nil {
		r.client = &http.Client{
			Timeout: cfg.Timeout,
			Transport: &http.Transport{
				MaxIdleConns:        2 * cfg.Concurrency,
				MaxIdleConnsPerHost: 2 * cfg.Concurrency,
				IdleConnTimeout:     90 * time.Second,
			},
		}
	}
	if r.api, err = client.New(cfg.Server, client.WithHTTPClient(r.client)); err != nil {
		return nil, err
	}
	r.writeURL, r.tileURL = cfg.Server+"/api/v1/log/entries", cfg.Server+"/"
	if cfg.API == APIV2 {
		r.writeURL, r.tileURL = cfg.Server+"/api/v2/log/entries", cfg.Server+"/api/v2/"
		if r.v2, err = r.activeV2Log(ctx, cfg.PublicKeyPEM); err != nil {
			return nil, err
		}
	} else if r.key, err = r.publicKey(ctx); err != nil {
		return nil, err
	}
	start, err := r.treeSize(ctx)
	if err != nil {
		return nil, err
	}
	r.size.Store(start)
	if mix[ModeWrite] > 0 {
		n := cfg.Entries
		if cfg.Count > 0 {
			n = cfg.Count
		}
		if cfg.API == APIV2 {
			fmt.Fprintf(out, "generating %d %s hashedrekord 0.0.2 requests over %d keys…\n", n, cfg.KeyKind, cfg.Keys)
			r.entries, err = GenerateV2(cfg.KeyKind, cfg.Keys, n)
		} else {
			fmt.Fprintf(out, "generating %d %s %s entries over %d keys…\n", n, cfg.KeyKind, cfg.EntryKind, cfg.Keys)
			r.entries, err = GenerateEntries(cfg.EntryKind, cfg.KeyKind, cfg.Keys, n)
		}
		if err != nil {
			return nil, err
		}
	}
	if mix[ModeWrite] == 0 && start == 0 {
		return nil, errors.New("the log is empty: run a write first")
	}

	stop, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return nil, err
	}
	res := r.run(ctx)
	if err := stop(); err != nil {
		return nil, err
	}
	res.StartSize = start
	if end, err := r.treeSize(ctx); err == nil {
		res.EndSize = end
	}
	Report(out, res)
	return res, nil
}

func (c *Config) defaults() error {
	c.Server = strings.TrimSuffix(c.Server, "/")
	if c.Server == "" {
		return errors.New("no server")
	}
	switch c.Mode {
	case ModeWrite, ModeReadEntry, ModeReadProof, ModeReadTile, ModeMixed:
	case ModeSearchEmail:
		if c.SearchEmail == "" {
			return errors.New("mode search-email: no address to search (SearchEmail)")
		}
	default:
		return fmt.Errorf("unknown mode %q", c.Mode)
	}
	switch c.API {
	case "":
		c.API = APIV1
	case APIV1:
	case APIV2:
		if c.Mode == ModeReadEntry || c.Mode == ModeReadProof || c.Mode == ModeSearchEmail {
			return fmt.Errorf("mode %s: the v2 API has no entry or proof reads or search (write, read-tile or mixed)", c.Mode)
		}
	default:
		return fmt.Errorf("unknown API %q (want %s or %s)", c.API, APIV1, APIV2)
	}
	if c.Concurrency < 1 {
		return errors.New("concurrency must be at least 1")
	}
	if c.Count < 0 || (c.Count == 0 && c.Duration <= 0) {
		return errors.New("give a positive count or duration")
	}
	if c.Entries <= 0 {
		c.Entries = 100_000
	}
	if c.Keys <= 0 {
		c.Keys = 16
	}
	if c.KeyKind == "" {
		c.KeyKind = KeyECDSA
	}
	switch c.EntryKind {
	case "":
		c.EntryKind = EntryHashedRekord
	case EntryHashedRekord:
	case EntryDSSE:
		if c.API == APIV2 {
			return errors.New("the v2 API logs hashedrekord entries only (clients send DSSE as hashedrekord over the PAE)")
		}
		if c.KeyKind != KeyECDSA && c.KeyKind != KeyCert {
			return fmt.Errorf("dsse entries are signed with %s or %s keys, not %q", KeyECDSA, KeyCert, c.KeyKind)
		}
	default:
		return fmt.Errorf("unknown entry kind %q (want %s or %s)", c.EntryKind, EntryHashedRekord, EntryDSSE)
	}
	if c.VerifySample < 0 {
		return errors.New("verify sample must not be negative")
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Mix == "" {
		c.Mix = DefaultMix
		if c.API == APIV2 {
			c.Mix = DefaultMixV2
		}
	}
	return nil
}

// parseMix returns the weight of each operation.
func parseMix(c Config) (map[string]int, error) {
	if c.Mode != ModeMixed {
		return map[string]int{c.Mode: 1}, nil
	}
	m := map[string]int{}
	for _, part := range strings.Split(c.Mix, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("mix %q: want op=weight,…", c.Mix)
		}
		switch name {
		case ModeReadEntry, ModeReadProof:
			if c.API == APIV2 && n > 0 {
				return nil, fmt.Errorf("mix: the v2 API has no %s", name)
			}
			m[name] = n
		case ModeWrite, ModeReadTile:
			m[name] = n
		default:
			return nil, fmt.Errorf("mix: unknown operation %q", name)
		}
	}
	return m, nil
}

// Generate makes n distinct proposed hashedrekord entries (JSON) signed by
// keys signers of the given kind, in parallel.
func Generate(kind string, keys, n int) ([][]byte, error) {
	signers, err := newSigners(kind, keys, KeyECDSA, KeyCert, KeyEd25519)
	if err != nil {
		return nil, err
	}
	return generate(n, func(i int, artifact []byte) ([]byte, error) {
		return signers[i%keys].HashedRekord(artifact)
	})
}

// newSigners makes keys signers of the given kind, which must be one of allowed.
func newSigners(kind string, keys int, allowed ...string) ([]*testentry.Signer, error) {
	if !slices.Contains(allowed, kind) {
		return nil, fmt.Errorf("unknown key kind %q (want %s)", kind, strings.Join(allowed, ", "))
	}
	signers := make([]*testentry.Signer, keys)
	for i := range signers {
		var err error
		switch kind {
		case KeyECDSA:
			signers[i], err = testentry.NewSigner()
		case KeyCert:
			signers[i], err = testentry.NewCertSigner(fmt.Sprintf("bench%d@tabula.invalid", i))
		case KeyEd25519:
			var priv ed25519.PrivateKey
			if _, priv, err = ed25519.GenerateKey(rand.Reader); err == nil {
				var der []byte
				if der, err = x509.MarshalPKIXPublicKey(priv.Public()); err == nil {
					signers[i], err = testentry.NewSignerFromKey(priv, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("generating key: %w", err)
		}
	}
	return signers, nil
}

// generate makes n entries in parallel, entry i from a distinct artifact.
func generate(n int, entry func(i int, artifact []byte) ([]byte, error)) ([][]byte, error) {
	var run [16]byte
	if _, err := rand.Read(run[:]); err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				e, err := entry(i, fmt.Appendf(nil, "tabula bench artifact %x %d", run, i))
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = e
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

type runner struct {
	cfg    Config
	mix    map[string]int
	client *http.Client
	api    *client.Client // for the calls outside the measured run
	key    verify.LogKey  // v1
	v2     v2Log          // v2
	// writeURL and tileURL are where writes go and the prefix of tile paths.
	writeURL, tileURL string
	entries           [][]byte
	next              atomic.Int64 // next entry to write
	ops               atomic.Int64 // operations started (Count mode)
	size              atomic.Int64 // tree size reads choose from
	exhaust           atomic.Bool
}

// sample is one finished operation.
type sample struct {
	op      string
	latency time.Duration
	class   string // "" for good; else an HTTP status or an Err* class
	checked bool   // verified cryptographically (and passed, if class is "")
}

func (r *runner) run(ctx context.Context) *Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.cfg.Count == 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, r.cfg.Duration)
		defer c()
	}
	ops, weights := []string{}, []int{}
	total := 0
	for _, op := range []string{ModeWrite, ModeReadEntry, ModeReadProof, ModeReadTile, ModeSearchEmail} {
		if w := r.mix[op]; w > 0 {
			ops, weights = append(ops, op), append(weights, w)
			total += w
		}
	}
	results := make([][]sample, r.cfg.Concurrency)
	var wg sync.WaitGroup
	began := time.Now()
	for w := range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := r.cfg.Seed
			if seed == 0 {
				seed = mrand.Uint64()
			}
			rng := mrand.New(mrand.NewPCG(seed, uint64(w)))
			var buf bytes.Buffer // answers are read into it, reused
			var g *rawGetter     // reads go through it when not nil
			if r.cfg.Client == nil {
				g = newRawGetter(r.cfg.Server, r.cfg.Timeout)
				defer func() {
					if g != nil && g.conn != nil {
						g.conn.Close()
					}
				}()
			}
			for ctx.Err() == nil {
				if r.cfg.Count > 0 && r.ops.Add(1) > int64(r.cfg.Count) {
					return
				}
				op := ops[0]
				if len(ops) > 1 {
					x := rng.IntN(total)
					for i, wt := range weights {
						if x < wt {
							op = ops[i]
							break
						}
						x -= wt
					}
				}
				verify := r.cfg.VerifySample > 0 && rng.IntN(r.cfg.VerifySample) == 0
				s, ok := r.do(ctx, op, rng, verify, &buf, g)
				if !ok {
					if op == ModeWrite {
						cancel() // entries used up: the run ends
					}
					return
				}
				if s.class == ErrTransport && (ctx.Err() != nil || pastDeadline(ctx)) {
					return // cut off by the end of the run
				}
				results[w] = append(results[w], s)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	return summarize(r.cfg, slices.Concat(results...), elapsed, r.exhaust.Load())
}

// do runs one operation, reading the answer into buf; ok is false when
// there is nothing left to do. Reads go through g when it is not nil.
func (r *runner) do(ctx context.Context, op string, rng *mrand.Rand, verify bool, buf *bytes.Buffer, g *rawGetter) (s sample, ok bool) {
	s.op = op
	var req *http.Request
	var err error
	var entry []byte
	var path string // a read's path and query, without the server
	switch op {
	case ModeWrite:
		i := r.next.Add(1) - 1
		if i >= int64(len(r.entries)) {
			r.exhaust.Store(r.cfg.Count == 0)
			return s, false
		}
		entry = r.entries[i]
		req, err = http.NewRequestWithContext(ctx, "POST", r.writeURL, bytes.NewReader(entry))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	case ModeReadEntry:
		size := r.size.Load()
		if size < 1 {
			return r.idle(s)
		}
		path = "/api/v1/log/entries?logIndex=" + strconv.FormatInt(rng.Int64N(size), 10)
	case ModeReadProof:
		size := r.size.Load()
		if size < 2 {
			return r.idle(s)
		}
		last := 2 + rng.Int64N(size-1)
		first := 1 + rng.Int64N(last-1)
		u := strconv.AppendInt([]byte("/api/v1/log/proof?firstSize="), first, 10)
		u = strconv.AppendInt(append(u, "&lastSize="...), last, 10)
		path = string(u)
	case ModeReadTile:
		p, have := randomFullTile(uint64(r.size.Load()), rng)
		if !have {
			return r.idle(s)
		}
		path = strings.TrimPrefix(r.tileURL, r.cfg.Server) + p.String()
	case ModeSearchEmail:
		email := r.cfg.SearchEmail
		if strings.Contains(email, "%d") {
			email = strings.ReplaceAll(email, "%d", strconv.Itoa(rng.IntN(r.cfg.Keys)))
		}
		q, _ := json.Marshal(map[string]string{"email": email}) // a string map always marshals
		req, err = http.NewRequestWithContext(ctx, "POST", r.cfg.Server+"/api/v1/index/retrieve", bytes.NewReader(q))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if op != ModeWrite && op != ModeSearchEmail && g == nil {
		req, err = http.NewRequestWithContext(ctx, "GET", r.cfg.Server+path, nil)
	}
	if err != nil {
		s.class = ErrTransport
		return s, true
	}
	t0 := time.Now()
	var code int
	if op != ModeWrite && op != ModeSearchEmail && g != nil {
		code, err = g.get(ctx, path, buf)
		var status errStatus
		if errors.As(err, &status) {
			err = nil
		}
	} else {
		var resp *http.Response
		if resp, err = r.client.Do(req); err == nil {
			code = resp.StatusCode
			buf.Reset()
			_, err = buf.ReadFrom(resp.Body)
			resp.Body.Close()
		}
	}
	body := buf.Bytes()
	s.latency = time.Since(t0)
	switch {
	case err != nil:
		s.class = ErrTransport
		return s, true
	case code/100 != 2:
		s.class = strconv.Itoa(code)
		return s, true
	}
	switch {
	case op == ModeWrite && r.cfg.API == APIV2:
		e, err := parseEntryV2(body)
		if err != nil {
			s.class = ErrIncomplete
			return s, true
		}
		r.grow(e.LogIndex)
		if verify {
			s.checked = true
			if err := verifyV2(e, entry, r.v2); err != nil {
				s.class = ErrVerify
			}
		}
	case op == ModeReadEntry && !verify:
		// Only the sampled answers are parsed (and verified); the others
		// are checked for the parts a good answer has, cheaply.
		if !looksLikeEntry(body) {
			s.class = ErrIncomplete
		}
	case op == ModeWrite, op == ModeReadEntry:
		e, err := parseEntry(body)
		if err != nil {
			s.class = ErrIncomplete
			return s, true
		}
		if op == ModeWrite {
			r.grow(e.LogIndex)
		}
		if verify {
			s.checked = true
			check := e.verify
			if r.cfg.Ceiling {
				check = e.verifySET
			}
			if err := check(r.key); err != nil {
				s.class = ErrVerify
			}
		}
	case op == ModeReadProof:
		if parseProof(body) != nil {
			s.class = ErrIncomplete
		}
	case op == ModeReadTile:
		if len(body) != merkle.TileWidth*merkle.HashSize {
			s.class = ErrIncomplete
		}
	case op == ModeSearchEmail:
		var uuids []string
		if json.Unmarshal(body, &uuids) != nil {
			s.class = ErrIncomplete
		}
	}
	return s, true
}

// pastDeadline reports whether ctx's deadline has passed, which the raw
// getter's connection deadline sees before ctx's timer fires.
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// grow raises the tree size reads choose from to cover index.
func (r *runner) grow(index int64) {
	for size := r.size.Load(); index+1 > size && !r.size.CompareAndSwap(size, index+1); size = r.size.Load() {
	}
}

// idle waits a little when a read has nothing to read yet (mixed mode on an
// empty log) and records nothing.
func (r *runner) idle(s sample) (sample, bool) {
	time.Sleep(time.Millisecond)
	s.class = "skip"
	return s, true
}

// randomFullTile picks a full Merkle tile uniformly among those of a tree of
// size leaves, at any level.
func randomFullTile(size uint64, rng *mrand.Rand) (merkle.TilePath, bool) {
	var counts []uint64
	total := uint64(0)
	for l := 0; ; l++ {
		n := size >> (8 * uint(l+1))
		if n == 0 {
			break
		}
		counts = append(counts, n)
		total += n
	}
	if total == 0 {
		return merkle.TilePath{}, false
	}
	x := rng.Uint64N(total)
	for l, n := range counts {
		if x < n {
			return merkle.TilePath{Level: uint8(l), Index: x, Width: merkle.TileWidth}, true
		}
		x -= n
	}
	return merkle.TilePath{}, false
}

func (r *runner) publicKey(ctx context.Context) (verify.LogKey, error) {
	b := r.cfg.PublicKeyPEM
	if b == nil {
		var err error
		if b, err = r.api.PublicKey(ctx, ""); err != nil {
			return verify.LogKey{}, fmt.Errorf("fetching the log's public key: %w", err)
		}
	}
	return verify.ParseLogKeyPEM(b)
}

func (r *runner) treeSize(ctx context.Context) (int64, error) {
	if r.cfg.API == APIV2 {
		l, err := r.activeV2Log(ctx, r.cfg.PublicKeyPEM)
		return l.size, err
	}
	info, err := r.api.LogInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("fetching log info: %w", err)
	}
	return info.TreeSize, nil
}

func summarize(cfg Config, samples []sample, elapsed time.Duration, exhausted bool) *Result {
	samples = slices.DeleteFunc(samples, func(s sample) bool { return s.class == "skip" })
	res := stats(samples, elapsed)
	res.Mode, res.Server, res.Concurrency, res.Exhausted = cfg.Mode, cfg.Server, cfg.Concurrency, exhausted
	if cfg.API == APIV2 {
		res.API = APIV2
	}
	if cfg.Mode == ModeMixed {
		res.ByOp = map[string]*Result{}
		byOp := map[string][]sample{}
		for _, s := range samples {
			byOp[s.op] = append(byOp[s.op], s)
		}
		for op, ss := range byOp {
			res.ByOp[op] = stats(ss, elapsed)
		}
	}
	return res
}

func stats(samples []sample, elapsed time.Duration) *Result {
	res := &Result{Seconds: round(elapsed.Seconds(), 3), Ops: len(samples), Errors: map[string]int{}}
	lat := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		lat = append(lat, s.latency)
		if s.class == "" {
			res.Good++
			if s.checked {
				res.Verified++
			}
		} else {
			res.Bad++
			res.Errors[s.class]++
		}
	}
	if elapsed > 0 {
		res.PerSecond = round(float64(res.Good)/elapsed.Seconds(), 1)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return ms(lat[max(i, 0)])
	}
	res.Latency = Latency{P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: pct(1)}
	return res
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// Report writes a human summary of res, then res as one JSON line.
func Report(out io.Writer, res *Result) {
	mode := res.Mode
	if res.API != "" {
		mode = res.API + " " + mode
	}
	fmt.Fprintf(out, "%s against %s, %d workers, %.1f s (tree size %d → %d)\n",
		mode, res.Server, res.Concurrency, res.Seconds, res.StartSize, res.EndSize)
	line := func(name string, r *Result) {
		fmt.Fprintf(out, "  %-10s %8d ok %6d bad %10.1f/s   latency ms p50 %.2f  p90 %.2f  p99 %.2f  max %.2f   verified %d\n",
			name, r.Good, r.Bad, r.PerSecond, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Verified)
		if len(r.Errors) > 0 {
			keys := make([]string, 0, len(r.Errors))
			for k := range r.Errors {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%d", k, r.Errors[k]))
			}
			fmt.Fprintf(out, "  %-10s errors: %s\n", "", strings.Join(parts, " "))
		}
	}
	line("all", res)
	ops := make([]string, 0, len(res.ByOp))
	for op := range res.ByOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		line(op, res.ByOp[op])
	}
	if res.Exhausted {
		fmt.Fprintln(out, "  the pre-generated entries ran out before the duration (raise --entries)")
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(out, "%s\n", b)
}

// startCPUProfile starts a CPU profile into path (nothing if path is
// empty) and returns the function that stops it and closes the file.
func startCPUProfile(path string) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
