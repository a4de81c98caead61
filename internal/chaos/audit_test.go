package chaos

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
)

// hostname is the --hostname every server runs with (the default).
const hostname = "tabula.local"

// figures are what one audit checked.
type figures struct {
	logs        int    // logs audited (more than one after a rotation)
	size        uint64 // final size: the sum of the logs' sizes
	acks        int    // acknowledged entries found at their index with their body
	byIndex     int    // reads of an acknowledged entry by its virtual index (sharded audits)
	checkpoints int    // distinct signed checkpoints verified and proved consistent
	sizes       int    // distinct tree sizes among them (one consistency proof each)
	tiles       int    // hash tiles read and authenticated
	bundles     int    // entry bundles read
}

func (f figures) String() string {
	s := fmt.Sprintf("tree size %d, %d acknowledged entries checked, %d checkpoints (%d sizes) consistent, %d tiles and %d entry bundles reproduce the root",
		f.size, f.acks, f.checkpoints, f.sizes, f.tiles, f.bundles)
	if f.logs > 1 {
		s = fmt.Sprintf("%d logs of total size %d, %d acknowledged entries checked (%d reads by virtual index), "+
			"%d checkpoints (%d sizes) consistent, %d tiles and %d entry bundles reproduce the roots",
			f.logs, f.size, f.acks, f.byIndex, f.checkpoints, f.sizes, f.tiles, f.bundles)
	}
	return s
}

// logRef is one log of a server's log set, as the audit reads it.
type logRef struct {
	treeID string           // decimal, as GET /api/v1/log gives it
	prefix string           // the tree ID as 16 hex: the start of its entry IDs
	pub    crypto.PublicKey // the key its checkpoints and SETs verify with (the key file's)
	logID  string           // hex SHA-256 of pub's DER
	start  uint64           // the virtual index of its first entry
	path   string           // URL path of its checkpoint and tiles: "" (the server's root) or "/logs/<treeID>"
}

func newLogRef(t *testing.T, treeID string, pub crypto.PublicKey, start uint64, path string) logRef {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	return logRef{
		treeID: treeID, prefix: fmt.Sprintf("%016x", uint64(mustInt(t, treeID))), pub: pub,
		logID: hex.EncodeToString(id[:]), start: start, path: path,
	}
}

func (l logRef) origin() string { return hostname + " - " + l.treeID }

// verify checks a checkpoint's signature and origin and returns its content.
func (l logRef) verify(cp string) (checkpoint.Checkpoint, error) {
	return checkpoint.Verify([]byte(cp), l.origin(), hostname, checkpoint.KeyIDRekorV1, l.pub)
}

// inclusion verifies the inclusion proof of the leaf at local index (in this
// log) against the checkpoint it came with.
func (l logRef) inclusion(local uint64, leaf []byte, treeSize int64, rootHex string, hashes []string, cp string) error {
	c, err := l.verify(cp)
	if err != nil {
		return fmt.Errorf("its checkpoint does not verify: %w", err)
	}
	if int64(c.Size) != treeSize || hex.EncodeToString(c.Root[:]) != rootHex {
		return fmt.Errorf("proof for %d/%s, checkpoint for %d/%x", treeSize, rootHex, c.Size, c.Root)
	}
	p, err := decodeHashes(hashes)
	if err != nil {
		return err
	}
	return proof.VerifyInclusion(rfc6962.DefaultHasher, local, c.Size, leaf, p, c.Root[:])
}

// set checks an acknowledged entry's log ID and its SET: this log's key over
// the entry's virtual index.
func (l logRef) set(k ack) error {
	if k.logID != l.logID {
		return fmt.Errorf("logID %s, the log's key gives %s", k.logID, l.logID)
	}
	var id [32]byte
	hex.Decode(id[:], []byte(l.logID)) //nolint:errcheck // made by hex.EncodeToString
	if len(k.set) == 0 {
		return errors.New("no signed entry timestamp")
	}
	return signer.Verify(l.pub, rekorv1.SETPayload(k.body, k.time, id, k.index), k.set)
}

// auditor checks a finished run through the servers' public HTTP doors.
type auditor struct {
	t      *testing.T
	client *http.Client
	urls   []string // every server of the log; requests rotate among them
	log    logRef   // the log being checked
	next   int
	fails  []string
}

// errorf records an audit failure: the log broke a promise.
func (a *auditor) errorf(format string, args ...any) {
	a.fails = append(a.fails, fmt.Sprintf(format, args...))
}

// url returns the next server, round robin: each check may hit another replica.
func (a *auditor) url() string {
	u := a.urls[a.next%len(a.urls)]
	a.next++
	return u
}

func (a *auditor) get(url string) (int, []byte) {
	a.t.Helper()
	resp, err := a.client.Get(url)
	if err != nil {
		a.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

func (a *auditor) getOK(url string) []byte {
	a.t.Helper()
	code, b := a.get(url)
	if code != http.StatusOK {
		a.t.Fatalf("GET %s: %d %.300s", url, code, b)
	}
	return b
}

// mustAudit audits and fails t on every broken promise.
func mustAudit(t *testing.T, urls []string, pubPEM []byte, rec *record) figures {
	t.Helper()
	f, fails := audit(t, urls, pubPEM, rec)
	failAudit(t, fails)
	return f
}

func failAudit(t *testing.T, fails []string) {
	t.Helper()
	for i, msg := range fails {
		if i == 25 {
			t.Errorf("… and %d more audit failures", len(fails)-i)
			break
		}
		t.Error(msg)
	}
}

func newAuditor(t *testing.T, urls []string) *auditor {
	return &auditor{t: t, urls: urls, client: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
	}}
}

// audit checks everything rec saw against the final tree of a server's one
// log and returns what it checked and the promises it found broken. The
// writers must have stopped. It fails t (Fatal) only when it cannot do its
// work.
func audit(t *testing.T, urls []string, pubPEM []byte, rec *record) (figures, []string) {
	t.Helper()
	pub, err := signer.ParsePublicKeyPEM(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuditor(t, urls)
	var f figures

	// 1. The final head: every server agrees on it.
	info := a.head()
	a.log = newLogRef(t, info.TreeID, pub, 0, "")
	head, err := a.log.verify(info.SignedTreeHead)
	if err != nil {
		t.Fatalf("the final checkpoint does not verify: %v\n%s", err, info.SignedTreeHead)
	}
	if int64(head.Size) != info.TreeSize || hex.EncodeToString(head.Root[:]) != info.RootHash {
		t.Fatalf("GET /api/v1/log: the checkpoint says %d/%x, the fields %d/%s", head.Size, head.Root, info.TreeSize, info.RootHash)
	}
	f.logs, f.size = 1, head.Size
	rec.checkpoint(string(a.getOK(a.url()+"/checkpoint")), "audit")

	// 2-5. The log's entries, tiles and acknowledged entries.
	acks, _ := rec.snapshot()
	a.checkLog(head, acks, true, rec, &f)

	// 6. Every checkpoint seen.
	_, cps := rec.snapshot() // with the checkpoints the reads brought
	a.checkpoints(head, cps, &f)
	return f, a.fails
}

// logKey names a log the audit expects and the public key (PEM) it signs with.
type logKey struct {
	treeID string
	pub    []byte
}

// auditShards is audit for a server whose log set holds the logs want,
// oldest first (the frozen shards, then the active log): each log is
// audited as audit does the one log, through its own doors
// (/logs/<treeID>/…, ?treeID=), and besides, the logs' virtual index ranges
// are contiguous and every acknowledged entry is read by its virtual index
// from every server. It returns the final GET /api/v1/log too.
func auditShards(t *testing.T, urls []string, want []logKey, rec *record) (figures, models.LogInfo, []string) {
	t.Helper()
	a := newAuditor(t, urls)
	var f figures

	// 1. The final heads: every server agrees on them; the logs are the
	// ones expected, their checkpoints verify with their keys, and each log
	// starts where the one before ended.
	info := a.head()
	type shardHead struct {
		treeID, sth, root string
		size              int64
	}
	var listed []shardHead
	for _, s := range info.InactiveShards {
		listed = append(listed, shardHead{s.TreeID, s.SignedTreeHead, s.RootHash, s.TreeSize})
	}
	listed = append(listed, shardHead{info.TreeID, info.SignedTreeHead, info.RootHash, info.TreeSize})
	if len(listed) != len(want) {
		a.errorf("GET /api/v1/log lists %d logs (%+v), want %d", len(listed), listed, len(want))
		return f, info, a.fails
	}
	refs := make([]logRef, len(want))
	heads := make([]checkpoint.Checkpoint, len(want))
	byPrefix := make(map[string]int)
	var start uint64
	for i, w := range want {
		s := listed[i]
		if s.treeID != w.treeID {
			a.errorf("GET /api/v1/log lists log %s in place %d, want %s", s.treeID, i, w.treeID)
			return f, info, a.fails
		}
		pub, err := signer.ParsePublicKeyPEM(w.pub)
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = newLogRef(t, w.treeID, pub, start, "/logs/"+w.treeID)
		byPrefix[refs[i].prefix] = i
		head, err := refs[i].verify(s.sth)
		if err != nil {
			a.errorf("the final checkpoint of log %s does not verify: %v\n%s", w.treeID, err, s.sth)
			return f, info, a.fails
		}
		if int64(head.Size) != s.size || hex.EncodeToString(head.Root[:]) != s.root {
			a.errorf("GET /api/v1/log: log %s's checkpoint says %d/%x, the fields %d/%s", w.treeID, head.Size, head.Root, s.size, s.root)
		}
		heads[i] = head
		start += head.Size
		if served, err := signer.ParsePublicKeyPEM(a.getOK(a.url() + "/api/v1/log/publicKey?treeID=" + w.treeID)); err != nil {
			a.errorf("GET /api/v1/log/publicKey?treeID=%s: %v", w.treeID, err)
		} else if got := newLogRef(t, w.treeID, served, 0, ""); got.logID != refs[i].logID {
			a.errorf("GET /api/v1/log/publicKey?treeID=%s: a key of log ID %s, the log's is %s", w.treeID, got.logID, refs[i].logID)
		}
		rec.checkpoint(string(a.getOK(a.url()+refs[i].path+"/checkpoint")), "audit")
	}
	f.logs, f.size = len(refs), start

	// Every acknowledged entry belongs, by its entry ID, to one of the logs.
	acks, _ := rec.snapshot()
	perLog := make([][]ack, len(refs))
	for _, k := range acks {
		i, ok := byPrefix[k.uuid[:min(16, len(k.uuid))]]
		if !ok {
			a.errorf("entry %s acknowledged at %d: its ID names none of the logs", k.uuid, k.index)
			continue
		}
		perLog[i] = append(perLog[i], k)
	}
	// Read by its virtual index from every server, each acknowledged entry
	// is the one acknowledged, and proved in its own log.
	a.byIndex(refs, perLog, rec, &f)

	// 2-5. Each log's entries, tiles and acknowledged entries.
	for i, r := range refs {
		a.log = r
		a.checkLog(heads[i], perLog[i], i == len(refs)-1, rec, &f)
	}

	// 6. Every checkpoint seen, by the log its origin names.
	_, cps := rec.snapshot()
	perOrigin := make([]map[string]string, len(refs))
	for i := range perOrigin {
		perOrigin[i] = make(map[string]string)
	}
	for cp, from := range cps {
		origin, _, _ := strings.Cut(cp, "\n")
		i := slices.IndexFunc(refs, func(r logRef) bool { return r.origin() == origin })
		if i < 0 {
			a.errorf("%s served a checkpoint of origin %q, none of the logs'", from, origin)
			continue
		}
		perOrigin[i][cp] = from
	}
	for i, r := range refs {
		a.log = r
		a.checkpoints(heads[i], perOrigin[i], &f)
	}
	return f, info, a.fails
}

// head returns the final GET /api/v1/log, once every server agrees on it
// (replicas may lag by their head cache, so allow them a moment).
func (a *auditor) head() models.LogInfo {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var infos []models.LogInfo
		for _, u := range a.urls {
			var in models.LogInfo
			if err := json.Unmarshal(a.getOK(u+"/api/v1/log"), &in); err != nil {
				a.t.Fatalf("GET %s/api/v1/log: %v", u, err)
			}
			infos = append(infos, in)
		}
		agree := true
		for _, in := range infos[1:] {
			agree = agree && sameLogs(in, infos[0])
		}
		if agree {
			return infos[0]
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("the servers do not agree on the head: %+v", infos)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sameLogs reports whether x and y list the same logs with the same heads.
func sameLogs(x, y models.LogInfo) bool {
	if x.TreeID != y.TreeID || x.TreeSize != y.TreeSize || x.RootHash != y.RootHash || len(x.InactiveShards) != len(y.InactiveShards) {
		return false
	}
	for i, s := range x.InactiveShards {
		if *s != *y.InactiveShards[i] {
			return false
		}
	}
	return true
}

// checkLog checks the log a.log, whose final checkpoint is head, and the
// acknowledged entries of that log; last says it is the active log (the last
// of the set).
func (a *auditor) checkLog(head checkpoint.Checkpoint, acks []ack, last bool, rec *record, f *figures) {
	a.t.Helper()
	t, l := a.t, a.log

	// 2. The entries, through the C2SP entry bundles: exactly size of them,
	// local indexes 0..size-1; their leaf hashes give the root. By virtual
	// index, the log's first and last entries are at start and
	// start+size-1, and nothing is past the active log.
	bodies := a.bundles(head.Size, f)
	leaves := make([][]byte, len(bodies))
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for i, b := range bodies {
		leaves[i] = rfc6962.DefaultHasher.HashLeaf(b)
		if err := rng.Append(leaves[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	if root, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(root, head.Root[:]) {
		a.errorf("log %s: the %d entry bundles give root %x (%v), the checkpoint says %x", l.treeID, len(bodies), root, err, head.Root)
	}
	if l.start > 0 || l.path != "" {
		for _, i := range []uint64{0, head.Size - 1} {
			if head.Size > 0 && len(leaves) == int(head.Size) {
				a.atIndex(l.start+i, l.prefix+hex.EncodeToString(leaves[i]))
			}
		}
	}
	if end := l.start + head.Size; last {
		if code, b := a.get(fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", a.url(), end)); code != http.StatusNotFound {
			a.errorf("GET entry %d of a log set of size %d: %d %.200s", end, end, code, b)
		}
	}

	// 3. The hash tiles, authenticated against the root, and their level-0
	// hashes are the entries' leaf hashes.
	a.tiles(head, leaves, f)

	// 4. Every acknowledged entry is at its acknowledged index with its body,
	// no index was given twice, its inclusion proof verifies against the
	// checkpoint it came with, and its SET signs its virtual index.
	owner := make(map[uint64]string, len(acks))
	for _, k := range acks {
		if prev, ok := owner[k.index]; ok {
			a.errorf("index %d acknowledged twice: %s and %s", k.index, prev, k.uuid)
			continue
		}
		owner[k.index] = k.uuid
		if k.index < l.start || k.index >= l.start+head.Size {
			a.errorf("entry %s acknowledged at index %d, but log %s holds indexes %d to %d: LOST", k.uuid, k.index, l.treeID, l.start, l.start+head.Size)
			continue
		}
		local := k.index - l.start
		if !bytes.Equal(bodies[local], k.body) {
			a.errorf("entry %s acknowledged at index %d: the log now holds another body there", k.uuid, k.index)
			continue
		}
		if k.local != local {
			a.errorf("entry %s acknowledged at virtual index %d with a proof for local index %d; log %s starts at %d", k.uuid, k.index, k.local, l.treeID, l.start)
		}
		leaf := leaves[local]
		if k.uuid != l.prefix+hex.EncodeToString(leaf) {
			a.errorf("entry at index %d acknowledged as %s, its leaf hash is %x", k.index, k.uuid, leaf)
		}
		if err := l.inclusion(local, leaf, k.treeSize, k.rootHash, k.hashes, k.cp); err != nil {
			a.errorf("the inclusion proof acknowledging entry %d (via %s): %v", k.index, k.via, err)
		}
		if err := l.set(k); err != nil {
			a.errorf("entry %d (via %s): SET: %v", k.index, k.via, err)
		}
		f.acks++
	}

	// 5. A sample of acknowledged entries read back through the v1 API, from
	// every server in turn.
	for _, i := range rand.Perm(len(acks))[:min(len(acks), 100)] {
		if k := acks[i]; k.index >= l.start && k.index < l.start+head.Size { // the others are reported above
			a.readBack(k, leaves[k.index-l.start], rec)
		}
	}
}

// atIndex checks that GET /api/v1/log/entries?logIndex=index answers the
// entry with ID uuid.
func (a *auditor) atIndex(index uint64, uuid string) {
	u := a.url()
	code, b := a.get(fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", u, index))
	var le models.LogEntry
	if code != http.StatusOK || json.Unmarshal(b, &le) != nil || len(le) != 1 {
		a.errorf("GET entry at virtual index %d via %s: %d %.200s", index, u, code, b)
		return
	}
	if _, ok := le[uuid]; !ok {
		a.errorf("GET entry at virtual index %d via %s: not %s: %.200s", index, u, uuid, b)
	}
}

// byIndex reads every acknowledged entry of perLog (the acknowledged
// entries of each log of refs) by its virtual index from every server, some
// at a time, and checks it is the entry acknowledged, with its ID and body,
// and that its inclusion proof verifies in its own log at its local index.
func (a *auditor) byIndex(refs []logRef, perLog [][]ack, rec *record, f *figures) {
	type job struct {
		l   logRef
		k   ack
		url string
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		a.errorf(format, args...)
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := a.readByIndex(j.l, j.k, j.url, rec); err != nil {
					fail("GET entry %s at virtual index %d via %s: %v", j.k.uuid, j.k.index, j.url, err)
				}
			}
		}()
	}
	for i, acks := range perLog {
		for _, k := range acks {
			for _, u := range a.urls {
				jobs <- job{refs[i], k, u}
				f.byIndex++
			}
		}
	}
	close(jobs)
	wg.Wait()
}

// readByIndex is one read of byIndex; it is safe for concurrent use.
func (a *auditor) readByIndex(l logRef, k ack, url string, rec *record) error {
	resp, err := a.client.Get(fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", url, k.index))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var le models.LogEntry
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &le) != nil || len(le) != 1 {
		return fmt.Errorf("%d %.200s", resp.StatusCode, b)
	}
	e, ok := le[k.uuid]
	if !ok {
		return fmt.Errorf("another entry: %.200s", b)
	}
	if e.LogIndex != int64(k.index) || !bytes.Equal(e.Body, k.body) {
		return fmt.Errorf("the entry at logIndex %d with another body", e.LogIndex)
	}
	if e.Verification == nil || e.Verification.InclusionProof == nil {
		return errors.New("no inclusion proof")
	}
	p := e.Verification.InclusionProof
	if k.index < l.start || p.LogIndex != int64(k.index-l.start) {
		return fmt.Errorf("inclusion proof for local index %d; log %s starts at %d", p.LogIndex, l.treeID, l.start)
	}
	if err := l.inclusion(uint64(p.LogIndex), rfc6962.DefaultHasher.HashLeaf(k.body), p.TreeSize, p.RootHash, p.Hashes, p.Checkpoint); err != nil {
		return fmt.Errorf("inclusion proof: %w", err)
	}
	rec.checkpoint(p.Checkpoint, url+" (by index)")
	return nil
}

// checkpoints checks the checkpoints seen of the log a.log, whose final
// checkpoint is head: each verifies, none is past the final tree, no two
// disagree on a size's root, and each is consistent with the final tree.
func (a *auditor) checkpoints(head checkpoint.Checkpoint, cps map[string]string, f *figures) {
	roots := make(map[uint64][]byte)
	for cp, from := range cps {
		c, err := a.log.verify(cp)
		if err != nil {
			a.errorf("a checkpoint served by %s does not verify: %v\n%s", from, err, cp)
			continue
		}
		f.checkpoints++
		if c.Size > head.Size {
			a.errorf("%s served a checkpoint of size %d; the final tree has %d: entries were LOST", from, c.Size, head.Size)
			continue
		}
		if r, ok := roots[c.Size]; ok && !bytes.Equal(r, c.Root[:]) {
			a.errorf("FORK: two checkpoints of size %d with roots %x and %x", c.Size, r, c.Root)
			continue
		}
		roots[c.Size] = c.Root[:]
	}
	for size, root := range roots {
		f.sizes++
		if err := a.consistent(size, root, head); err != nil {
			a.errorf("the checkpoint of size %d is not consistent with the final tree of size %d: %v", size, head.Size, err)
		}
	}
}

func mustInt(t *testing.T, s string) int64 {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("tree ID %q: %v", s, err)
	}
	return n
}

// tilePath is the C2SP tlog-tiles path of t: tlog's own path without the
// height, and "entries" for its data tiles.
func tilePath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	if d, ok := strings.CutPrefix(p, "data/"); ok {
		return "tile/entries/" + d
	}
	return "tile/" + p
}

// bundles reads every entry of a tree of size n from its entry bundles.
func (a *auditor) bundles(n uint64, f *figures) [][]byte {
	a.t.Helper()
	bodies := make([][]byte, 0, n)
	for start := uint64(0); start < n; start += 256 {
		w := int(min(256, n-start))
		p := tilePath(tlog.Tile{H: 8, L: -1, N: int64(start / 256), W: w})
		b := a.getOK(a.url() + a.log.path + "/" + p)
		f.bundles++
		for len(b) > 0 {
			if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
				a.t.Fatalf("%s: truncated entry bundle", p)
			}
			l := int(binary.BigEndian.Uint16(b))
			bodies = append(bodies, b[2:2+l])
			b = b[2+l:]
		}
		if uint64(len(bodies)) != start+uint64(w) {
			a.t.Fatalf("%s holds %d entries, want %d", p, uint64(len(bodies))-start, w)
		}
	}
	return bodies
}

// tileReader reads C2SP hash tiles for tlog, rotating among the servers.
type tileReader struct {
	a *auditor
	n int
}

func (r *tileReader) Height() int { return 8 }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		url := r.a.url() + r.a.log.path + "/" + tilePath(t)
		code, b := r.a.get(url)
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %.200s", url, code, b)
		}
		r.n++
		out[i] = b
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// tiles checks, with golang.org/x/mod/sumdb/tlog, that the hash tiles
// reproduce the root and hold the entries' leaf hashes.
func (a *auditor) tiles(head checkpoint.Checkpoint, leaves [][]byte, f *figures) {
	a.t.Helper()
	tr := &tileReader{a: a}
	hr := tlog.TileHashReader(tlog.Tree{N: int64(head.Size), Hash: tlog.Hash(head.Root)}, tr)
	root, err := tlog.TreeHash(int64(head.Size), hr)
	if err != nil || root != tlog.Hash(head.Root) {
		a.errorf("the tiles give root %x (%v), the checkpoint says %x", root, err, head.Root)
		return
	}
	for start := 0; start < len(leaves); start += 1024 {
		idx := make([]int64, 0, 1024)
		for i := start; i < min(start+1024, len(leaves)); i++ {
			idx = append(idx, tlog.StoredHashIndex(0, int64(i)))
		}
		hs, err := hr.ReadHashes(idx)
		if err != nil {
			a.errorf("reading leaf hashes from the tiles: %v", err)
			return
		}
		for j, h := range hs {
			if !bytes.Equal(h[:], leaves[start+j]) {
				a.errorf("tile hash of leaf %d is %x, the entry's leaf hash %x", start+j, h, leaves[start+j])
			}
		}
	}
	f.tiles = tr.n
}

// readBack reads an acknowledged entry through GET /api/v1/log/entries/{uuid}.
func (a *auditor) readBack(k ack, leaf []byte, rec *record) {
	a.t.Helper()
	u := a.url()
	code, b := a.get(u + "/api/v1/log/entries/" + k.uuid)
	if code != http.StatusOK {
		a.errorf("GET entry %s (index %d) via %s: %d %.200s", k.uuid, k.index, u, code, b)
		return
	}
	var le models.LogEntry
	if err := json.Unmarshal(b, &le); err != nil || len(le) != 1 {
		a.errorf("GET entry %s: %v %.200s", k.uuid, err, b)
		return
	}
	for id, e := range le {
		if id != k.uuid || e.LogIndex != int64(k.index) || !bytes.Equal(e.Body, k.body) {
			a.errorf("GET entry %s via %s: got %s at %d", k.uuid, u, id, e.LogIndex)
			return
		}
		p := e.Verification.InclusionProof
		if err := a.log.inclusion(k.index-a.log.start, leaf, p.TreeSize, p.RootHash, p.Hashes, p.Checkpoint); err != nil {
			a.errorf("GET entry %s via %s: inclusion proof: %v", k.uuid, u, err)
		}
		rec.checkpoint(p.Checkpoint, u+" (read back)")
	}
}

// consistent proves the tree of size (with root) is a prefix of the final
// tree, with a proof from GET /api/v1/log/proof.
func (a *auditor) consistent(size uint64, root []byte, head checkpoint.Checkpoint) error {
	if size == head.Size {
		if !bytes.Equal(root, head.Root[:]) {
			return fmt.Errorf("same size, root %x, final root %x", root, head.Root)
		}
		return nil
	}
	if size == 0 {
		if !bytes.Equal(root, rfc6962.DefaultHasher.EmptyRoot()) {
			return fmt.Errorf("empty tree with root %x", root)
		}
		return nil
	}
	u := a.url()
	q := fmt.Sprintf("%s/api/v1/log/proof?firstSize=%d&lastSize=%d", u, size, head.Size)
	if a.log.path != "" {
		q += "&treeID=" + a.log.treeID
	}
	code, b := a.get(q)
	if code != http.StatusOK {
		return fmt.Errorf("GET proof via %s: %d %.200s", u, code, b)
	}
	var cp models.ConsistencyProof
	if err := json.Unmarshal(b, &cp); err != nil {
		return fmt.Errorf("proof via %s: %w", u, err)
	}
	p, err := decodeHashes(cp.Hashes)
	if err != nil {
		return err
	}
	return proof.VerifyConsistency(rfc6962.DefaultHasher, size, head.Size, p, root, head.Root[:])
}

func decodeHashes(hs []string) ([][]byte, error) {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("proof hash %d: %q is not a 32-byte hex hash", i, h)
		}
		out[i] = b
	}
	return out, nil
}
