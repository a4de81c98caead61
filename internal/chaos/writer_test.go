package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/testentry"
)

// ack is an entry the log acknowledged with 201.
type ack struct {
	uuid     string // the response's key: the 80-hex entry ID
	index    uint64 // the top-level logIndex: the virtual index across the log set
	body     []byte // the canonical body the log returned
	via      string // the server that answered
	hashes   []string
	local    uint64 // the inclusion proof's logIndex: the index in the entry's own log
	treeSize int64
	rootHash string
	cp       string // the checkpoint the inclusion proof is against
	logID    string
	time     int64  // integratedTime
	set      []byte // the signed entry timestamp
}

// attempt is one POST, whatever came of it.
type attempt struct {
	start  time.Time
	took   time.Duration
	status int // 0: no HTTP answer (connection refused or reset)
	err    string
	retry  bool   // not the entry's first attempt
	after  string // the Retry-After header of the answer
}

// record is what the writers and pollers saw.
type record struct {
	mu          sync.Mutex
	acks        []ack
	checkpoints map[string]string // raw signed note → the server it came from
	attempts    []attempt
	resolved409 int      // retries answered 409: committed by an attempt whose answer was lost
	abandoned   int      // entries given up when the writers stopped (outcome unknown)
	problems    []string // answers no correct server gives
}

func newRecord() *record {
	return &record{checkpoints: make(map[string]string)}
}

func (r *record) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) < 50 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *record) checkpoint(cp, from string) {
	if cp == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.checkpoints[cp]; !ok {
		r.checkpoints[cp] = from
	}
}

// snapshot returns copies, for the audit.
func (r *record) snapshot() ([]ack, map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cps := make(map[string]string, len(r.checkpoints))
	for k, v := range r.checkpoints {
		cps[k] = v
	}
	return append([]ack(nil), r.acks...), cps
}

func (r *record) attemptsCopy() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]attempt(nil), r.attempts...)
}

// load is a set of writer goroutines uploading distinct hashedrekord entries
// and pollers collecting checkpoints, until stop.
type load struct {
	t      *testing.T
	rec    *record
	target func(g int) string // the base URL writer g uses now ("" while down)
	client *http.Client
	run    string // makes this run's artifacts distinct from any other's

	stopping atomic.Bool
	wg       sync.WaitGroup
}

// startLoad starts writers writer goroutines and one checkpoint poller per
// URL returned by pollTargets (read again on every round).
func startLoad(t *testing.T, rec *record, writers int, target func(g int) string, pollTargets func() []string) *load {
	t.Helper()
	l := &load{
		t:      t,
		rec:    rec,
		target: target,
		client: &http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: writers + 4, DisableCompression: true},
		},
		run: fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()),
	}
	for g := range writers {
		s, err := testentry.NewSigner()
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Add(1)
		go l.writer(g, s)
	}
	l.wg.Add(1)
	go l.poller(pollTargets)
	t.Cleanup(l.stop)
	return l
}

// stop makes the writers finish the entry in hand (giving it up if no server
// answers) and waits for them.
func (l *load) stop() {
	l.stopping.Store(true)
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

func (l *load) writer(g int, s *testentry.Signer) {
	defer l.wg.Done()
	for i := 0; !l.stopping.Load(); i++ {
		body, err := s.HashedRekord(fmt.Appendf(nil, "tabula chaos %s writer %d entry %d", l.run, g, i))
		if err != nil {
			l.rec.problem("making an entry: %v", err)
			return
		}
		l.upload(g, body)
	}
}

// upload posts one entry until the log answers for it: 201 (acknowledged),
// or 409 on a retry (an earlier attempt committed but its answer was lost).
func (l *load) upload(g int, body []byte) {
	for try := 0; ; try++ {
		if try > 0 {
			if l.stopping.Load() {
				l.rec.mu.Lock()
				l.rec.abandoned++
				l.rec.mu.Unlock()
				return
			}
			time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond)
		}
		url := l.target(g)
		if url == "" {
			continue
		}
		a := attempt{start: time.Now(), retry: try > 0}
		status, resp, h, err := l.send(url+"/api/v1/log/entries", body)
		a.took = time.Since(a.start)
		a.status = status
		a.after = h.Get("Retry-After")
		if err != nil {
			a.err = err.Error()
		}
		l.rec.mu.Lock()
		l.rec.attempts = append(l.rec.attempts, a)
		l.rec.mu.Unlock()
		switch {
		case status == http.StatusCreated:
			l.acknowledged(url, resp)
			return
		case status == http.StatusConflict && try > 0:
			l.rec.mu.Lock()
			l.rec.resolved409++
			l.rec.mu.Unlock()
			return
		case status == http.StatusConflict:
			l.rec.problem("a new entry was answered 409 on its first attempt: %.300s", resp)
			return
		case status == 0 || status == http.StatusServiceUnavailable:
			continue // no answer, or the log is unavailable: retry the same bytes
		default:
			l.rec.problem("POST via %s: status %d: %.300s", url, status, resp)
			return
		}
	}
}

func (l *load) post(url string, body []byte) (int, []byte, error) {
	status, b, _, err := l.send(url, body)
	return status, b, err
}

// send posts body and returns the answer's status, body and header.
func (l *load) send(url string, body []byte) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		// The status arrived, the body did not: no answer as far as a client knows.
		return 0, nil, nil, err
	}
	return resp.StatusCode, b, resp.Header, nil
}

func (l *load) acknowledged(url string, b []byte) {
	var le models.LogEntry
	if err := json.Unmarshal(b, &le); err != nil || len(le) != 1 {
		l.rec.problem("201 with an unreadable body (%v): %.300s", err, b)
		return
	}
	for id, e := range le {
		if e.LogIndex < 0 || e.Verification == nil || e.Verification.InclusionProof == nil {
			l.rec.problem("201 without an index or inclusion proof: %.300s", b)
			return
		}
		p := e.Verification.InclusionProof
		a := ack{
			uuid: id, index: uint64(e.LogIndex), body: e.Body, via: url,
			hashes: p.Hashes, local: uint64(p.LogIndex), treeSize: p.TreeSize, rootHash: p.RootHash, cp: p.Checkpoint,
			logID: e.LogID, time: e.IntegratedTime, set: e.Verification.SignedEntryTimestamp,
		}
		l.rec.mu.Lock()
		l.rec.acks = append(l.rec.acks, a)
		l.rec.mu.Unlock()
		l.rec.checkpoint(p.Checkpoint, url)
	}
}

// poller collects the checkpoints served by GET /api/v1/log and /checkpoint.
func (l *load) poller(targets func() []string) {
	defer l.wg.Done()
	for !l.stopping.Load() {
		for _, u := range targets() {
			if u == "" {
				continue
			}
			if b, ok := l.get(u + "/api/v1/log"); ok {
				var info models.LogInfo
				if err := json.Unmarshal(b, &info); err != nil {
					l.rec.problem("GET /api/v1/log via %s: %v", u, err)
				} else {
					l.rec.checkpoint(info.SignedTreeHead, u)
				}
			}
			if b, ok := l.get(u + "/checkpoint"); ok {
				l.rec.checkpoint(string(b), u)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get returns a 200's body; other answers (the server may be down) are not
// the poller's concern, but a 5xx other than 503 is a problem.
func (l *load) get(url string) ([]byte, bool) {
	resp, err := l.client.Get(url)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, false
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		l.rec.problem("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return b, resp.StatusCode == http.StatusOK
}
