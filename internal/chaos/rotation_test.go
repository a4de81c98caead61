package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
)

// envRotationTime is how long the writers run in TestRotation; the two
// rotations happen at a third and two thirds of it.
const envRotationTime = "TABULA_CHAOS_ROTATION_TIME"

// switchBound is how long every server has, after `tabula log rotate`, to
// serve the new log and acknowledge a write into it. Servers follow a
// rotation within about a second; the margin is for a loaded machine.
const switchBound = 30 * time.Second

// TestRotation rotates the log twice with `tabula log rotate` while writers
// upload, on each engine: on SQLite one `tabula serve` and the command on
// the same database file; on PostgreSQL two `tabula serve` replicas on one
// database, the writers spread over both. The second rotation starts the new
// log with a new key, which the servers hold in --key from the start.
//
// Checked: after each rotation every server, without a restart, lists the
// frozen log in inactiveShards and acknowledges writes into the new log;
// a frozen log's signed tree head never changes afterwards; no write got an
// answer but 201 or 503 with Retry-After, and every 503 was retried to a
// 201 (none was committed unanswered); and the audit of every log
// (auditShards): each acknowledged entry read by its virtual index from
// every server, its proof in its own log, contiguous virtual ranges, tiles
// and bundles of every log, every checkpoint consistent with its log's
// final tree. TABULA_CHAOS_ROTATION_TIME sets how long the writers run
// (default 3s), TABULA_CHAOS_WRITERS how many there are (default 16).
func TestRotation(t *testing.T) {
	t.Parallel()
	d := envDuration(t, envRotationTime, 3*time.Second)
	writers := envInt(t, envWriters, 16)
	for _, tc := range []struct {
		engine   string
		replicas int
	}{
		{"sqlite", 1},
		{"postgres", 2},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			oldKey, oldPub := keygen(t)
			newKey, newPub := keygen(t)
			var store []string // where the servers' and the command's database is
			if tc.engine == "postgres" {
				store = []string{"--database-url", pgtest.NewDatabase(t)}
			} else {
				store = []string{"--data-dir", filepath.Join(t.TempDir(), "data")}
			}
			servers := make([]*server, tc.replicas)
			urls := make([]string, tc.replicas)
			for i := range servers {
				args := append([]string{"--key", oldKey + "," + newKey}, store...)
				if tc.engine == "postgres" {
					args = append(args, "--data-dir", filepath.Join(t.TempDir(), "data"))
				}
				servers[i] = newServer(t, fmt.Sprintf("%s%d", tc.engine, i), args...)
				urls[i] = servers[i].start()
			}
			rt := &rotationRun{t: t, urls: urls, frozen: make(map[string]string)}
			first := rt.activeTreeID()
			rt.rec = newRecord()
			l := startLoad(t, rt.rec, writers, func(g int) string { return urls[g%len(urls)] }, func() []string { return urls })

			start := time.Now()
			rt.waitWrites(first)
			logs := []logKey{{first, oldPub}}
			var rotations []rotation
			for k, key := range []struct {
				file string
				pub  []byte
			}{{oldKey, oldPub}, {newKey, newPub}} {
				time.Sleep(time.Until(start.Add(d * time.Duration(k+1) / 3)))
				r := rt.rotate(append([]string{"--key", key.file}, store...))
				t.Logf("rotation %d at %d acknowledged entries: %s", k+1, ackCount(rt.rec), strings.ReplaceAll(r.out, "\n", "; "))
				if r.frozen != logs[len(logs)-1].treeID {
					t.Fatalf("rotation %d froze log %s, the active log was %s", k+1, r.frozen, logs[len(logs)-1].treeID)
				}
				rotations = append(rotations, r)
				logs = append(logs, logKey{r.created, key.pub})
				rt.waitSwitch(r)
				rt.waitWrites(r.created)
			}
			time.Sleep(time.Until(start.Add(d)))
			l.stop()

			f, info, fails := auditShards(t, urls, logs, rt.rec)
			failAudit(t, fails)
			reportLoad(t, rt.rec, f)

			// The frozen logs' signed tree heads never changed, and each
			// log starts where the command said.
			final := make(map[string]*models.InactiveShardLogInfo)
			for _, s := range info.InactiveShards {
				final[s.TreeID] = s
			}
			for i, r := range rotations {
				s, ok := final[r.frozen]
				switch {
				case !ok:
					t.Errorf("log %s, frozen by rotation %d, is not among the final inactiveShards", r.frozen, i+1)
				case s.SignedTreeHead != rt.frozen[r.frozen]:
					t.Errorf("log %s CHANGED after it froze: its signed tree head was\n%s\nand is now\n%s", r.frozen, rt.frozen[r.frozen], s.SignedTreeHead)
				case uint64(s.TreeSize) != r.size:
					t.Errorf("log %s froze at size %d (tabula log rotate), GET /api/v1/log says %d", r.frozen, r.size, s.TreeSize)
				}
			}
			var end uint64
			for i, r := range rotations {
				end += r.size
				if r.start != end {
					t.Errorf("rotation %d: log %s starts at virtual index %d; the logs before it hold %d entries", i+1, r.created, r.start, end)
				}
			}

			// Writes: 201, or 503 with Retry-After, retried to a 201.
			codes := make(map[int]int)
			for _, a := range rt.rec.attemptsCopy() {
				codes[a.status]++
				switch {
				case a.status == http.StatusCreated:
				case a.status == http.StatusServiceUnavailable && a.after == "":
					t.Errorf("a write answered 503 without Retry-After after %s", a.took)
				case a.status != http.StatusServiceUnavailable:
					t.Errorf("a write answered %d (%s) after %s: during a rotation only 503 is allowed", a.status, a.err, a.took)
				}
			}
			if n := rt.rec.resolved409; n > 0 {
				t.Errorf("%d writes answered 503 had been committed (their retries got 409): a 503 must mean not written", n)
			}

			// Every server took writes into every log, on its first start.
			perLog := make(map[string][]int)
			acks, _ := rt.rec.snapshot()
			for _, k := range acks {
				for _, lk := range logs {
					if strings.HasPrefix(k.uuid, treeHex(t, lk.treeID)) {
						if perLog[lk.treeID] == nil {
							perLog[lk.treeID] = make([]int, len(urls))
						}
						for i, u := range urls {
							if k.via == u {
								perLog[lk.treeID][i]++
							}
						}
					}
				}
			}
			var perLogFig []string
			for _, lk := range logs {
				perLogFig = append(perLogFig, fmt.Sprintf("%v", perLog[lk.treeID]))
				for i := range urls {
					if perLog[lk.treeID] == nil || perLog[lk.treeID][i] == 0 {
						t.Errorf("server %d acknowledged no write into log %s", i, lk.treeID)
					}
				}
			}
			for _, s := range servers {
				if !s.neverRestarted() {
					t.Errorf("%s is not running its first start: it did not follow the rotations in place", s.name)
				}
				if races := s.raceReports(); len(races) > 0 {
					t.Errorf("%s reported data races: see %v", s.name, races)
				}
			}
			auditShardsCatches(t, urls, logs, []string{oldKey, oldKey, newKey}, rt.rec)
			t.Logf("FIGURES rotation/%s: %d server(s), %d writers for %s, 2 rotations (frozen at sizes %d and %d; the second to a new key); "+
				"POSTs by status %v; acknowledged per log and server %s; %s",
				tc.engine, len(urls), writers, d, rotations[0].size, rotations[1].size, codes, strings.Join(perLogFig, " "), f)
		})
	}
}

// rotation is what one `tabula log rotate` printed.
type rotation struct {
	out     string
	frozen  string // the tree ID of the log it froze
	size    uint64 // that log's final size
	created string // the tree ID of the new active log
	start   uint64 // the new log's first virtual index
}

var (
	frozeLine   = regexp.MustCompile(`(?m)^froze log (\d+) \(.*\) at size (\d+)$`)
	createdLine = regexp.MustCompile(`(?m)^created log (\d+) \(.*\): the active log from virtual index (\d+)$`)
)

// rotationRun is TestRotation's view of its servers.
type rotationRun struct {
	t      *testing.T
	urls   []string
	rec    *record
	frozen map[string]string // tree ID of a frozen log → the signed tree head first seen for it
}

// rotate runs `tabula log rotate` with args.
func (rt *rotationRun) rotate(args []string) rotation {
	rt.t.Helper()
	out, err := exec.Command(tabulaBin, append([]string{"log", "rotate"}, args...)...).CombinedOutput()
	if err != nil {
		rt.t.Fatalf("tabula log rotate %v: %v\n%s", args, err, out)
	}
	r := rotation{out: strings.TrimSpace(string(out))}
	fm, cm := frozeLine.FindStringSubmatch(r.out), createdLine.FindStringSubmatch(r.out)
	if fm == nil || cm == nil {
		rt.t.Fatalf("tabula log rotate printed %q", r.out)
	}
	r.frozen, r.created = fm[1], cm[1]
	r.size, _ = strconv.ParseUint(fm[2], 10, 64)
	r.start, _ = strconv.ParseUint(cm[2], 10, 64)
	return r
}

// activeTreeID is the tree ID of the active log, as the first server says.
func (rt *rotationRun) activeTreeID() string {
	rt.t.Helper()
	info, err := rt.info(rt.urls[0])
	if err != nil {
		rt.t.Fatal(err)
	}
	return info.TreeID
}

func (rt *rotationRun) info(url string) (models.LogInfo, error) {
	var info models.LogInfo
	resp, err := http.Get(url + "/api/v1/log")
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("GET %s/api/v1/log: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return info, fmt.Errorf("GET %s/api/v1/log: %w", url, err)
	}
	return info, nil
}

// waitSwitch waits until every server serves r's new log as the active one,
// with the log r froze last among inactiveShards at its final size, and
// records the frozen logs' signed tree heads, checking that no server ever
// shows another for a log once frozen.
func (rt *rotationRun) waitSwitch(r rotation) {
	rt.t.Helper()
	deadline := time.Now().Add(switchBound)
	for i, u := range rt.urls {
		for {
			info, err := rt.info(u)
			if err != nil {
				rt.t.Fatal(err)
			}
			if n := len(info.InactiveShards); info.TreeID == r.created && n > 0 && info.InactiveShards[n-1].TreeID == r.frozen {
				for _, s := range info.InactiveShards {
					if prev, ok := rt.frozen[s.TreeID]; !ok {
						rt.frozen[s.TreeID] = s.SignedTreeHead
					} else if prev != s.SignedTreeHead {
						rt.t.Errorf("server %d serves log %s, frozen, with the signed tree head\n%s\nit was\n%s", i, s.TreeID, s.SignedTreeHead, prev)
					}
				}
				if got := info.InactiveShards[n-1].TreeSize; uint64(got) != r.size {
					rt.t.Errorf("server %d lists log %s at size %d; it froze at %d", i, r.frozen, got, r.size)
				}
				break
			}
			if time.Now().After(deadline) {
				rt.t.Fatalf("server %d still serves log %s with inactiveShards %+v %s after log %s was created", i, info.TreeID, info.InactiveShards, switchBound, r.created)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitWrites waits until every server has acknowledged a write into the log
// treeID.
func (rt *rotationRun) waitWrites(treeID string) {
	rt.t.Helper()
	prefix := treeHex(rt.t, treeID)
	deadline := time.Now().Add(switchBound)
	for {
		seen := make(map[string]bool)
		acks, _ := rt.rec.snapshot()
		for _, k := range acks {
			if strings.HasPrefix(k.uuid, prefix) {
				seen[k.via] = true
			}
		}
		missing := 0
		for _, u := range rt.urls {
			if !seen[u] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			rt.t.Fatalf("%d of %d servers acknowledged no write into log %s within %s", missing, len(rt.urls), treeID, switchBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// treeHex is a tree ID as the 16 hex digits that start its entries' IDs.
func treeHex(t *testing.T, treeID string) string {
	return fmt.Sprintf("%016x", uint64(mustInt(t, treeID)))
}

// auditShardsCatches shows auditShards can fail on what a rotation may
// break: it audits copies of a sample of the run's record (a few entries of
// each log), each with one promise broken. keys are the logs' private key
// files.
func auditShardsCatches(t *testing.T, urls []string, logs []logKey, keys []string, rec *record) {
	t.Helper()
	acks, _ := rec.snapshot()
	var sample []ack
	perLog := make(map[string]int)
	var inLog1 int // an entry of the second log in sample
	for _, k := range acks {
		for i, lk := range logs {
			if strings.HasPrefix(k.uuid, treeHex(t, lk.treeID)) && perLog[lk.treeID] < 5 {
				perLog[lk.treeID]++
				if i == 1 {
					inLog1 = len(sample)
				}
				sample = append(sample, k)
			}
		}
	}
	if perLog[logs[1].treeID] == 0 {
		t.Fatalf("no acknowledged entry in log %s", logs[1].treeID)
	}
	sign := func(file string) signer.Signer {
		s, err := signer.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// checkpoint makes a checkpoint of log i's origin, signed by the key file.
	checkpointOf := func(i int, file string, size uint64) string {
		ns, err := checkpoint.NewSigner(hostname, checkpoint.KeyIDRekorV1, sign(file))
		if err != nil {
			t.Fatal(err)
		}
		b, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: hostname + " - " + logs[i].treeID, Size: size, Root: sha256.Sum256([]byte("another tree"))}, ns)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name   string
		tamper func(a []ack, cps map[string]string) []ack
		want   string // one of these, separated by |
	}{
		{"virtual index not applied", func(a []ack, _ map[string]string) []ack {
			a[inLog1].index = a[inLog1].local
			return a
		}, "LOST|another entry|another body"},
		{"entry ID of another log", func(a []ack, _ map[string]string) []ack {
			a[inLog1].uuid = treeHex(t, logs[0].treeID) + a[inLog1].uuid[16:]
			return a
		}, "another entry"},
		{"SET over the local index", func(a []ack, _ map[string]string) []ack {
			k := &a[inLog1]
			var id [32]byte
			hex.Decode(id[:], []byte(k.logID)) //nolint:errcheck // checked by the untampered audit
			set, err := rekorv1.SignEntry(sign(keys[1]), k.body, k.time, id, k.local)
			if err != nil {
				t.Fatal(err)
			}
			k.set = set
			return a
		}, "SET"},
		{"frozen log grew", func(a []ack, cps map[string]string) []ack {
			cps[checkpointOf(0, keys[0], 1<<20)] = "grown"
			return a
		}, "LOST"},
		{"checkpoint signed by another log's key", func(a []ack, cps map[string]string) []ack {
			cps[checkpointOf(1, keys[2], 1)] = "wrong key"
			return a
		}, "does not verify"},
	} {
		t.Run("audit catches/"+tc.name, func(t *testing.T) {
			a := make([]ack, len(sample))
			for i, k := range sample {
				k.hashes = append([]string(nil), k.hashes...)
				a[i] = k
			}
			r := newRecord()
			r.acks = tc.tamper(a, r.checkpoints)
			_, _, fails := auditShards(t, urls, logs, r)
			if len(fails) == 0 {
				t.Fatal("the audit found nothing wrong")
			}
			all := strings.Join(fails, "\n")
			if !slices.ContainsFunc(strings.Split(tc.want, "|"), func(w string) bool { return strings.Contains(all, w) }) {
				t.Fatalf("the audit failed, but not with %q: %v", tc.want, fails)
			}
		})
	}
}
