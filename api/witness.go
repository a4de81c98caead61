package api

// Witnessed logs: the cosigned checkpoint at the checkpoint paths, the
// log-only one at latest-checkpoint, writes that wait for a cosigned
// checkpoint, and the witnesses' status in /readyz.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/witness/submit"
)

// Headers of the write wait.
const (
	// WitnessWaitHeader asks a write to wait up to this many seconds
	// (decimal, fractions allowed) for a cosigned checkpoint covering its
	// entry.
	WitnessWaitHeader = "Tabula-Witness-Wait"
	// WitnessedHeader answers a write that waited: "true" when its proof is
	// against a cosigned checkpoint, "false" when none came in time (the
	// proof is then against the log's checkpoint).
	WitnessedHeader = "Tabula-Witnessed"
)

// getCheckpoint is GET /checkpoint, /api/v2/checkpoint and
// /logs/{treeID}/[api/v2/]checkpoint (C2SP tlog-tiles): a witnessed log's
// newest cosigned checkpoint when one is stored, else the log's latest
// checkpoint (a frozen log's final one).
func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request) {
	sh, ok := s.tileLog(w, r)
	if !ok {
		return
	}
	if s.witnesses != nil && s.witnesses.Policy(sh) != nil {
		cp, found, err := s.witnesses.Cosigned(r.Context(), sh)
		if err != nil {
			// Fail-open: the log's own checkpoint is still true.
			s.logger.Warn("reading the cosigned checkpoint", "tree_id", sh.TreeID(), "err", err)
		}
		if found {
			writeCheckpoint(w, cp.Checkpoint)
			return
		}
	}
	s.getLatestCheckpoint(w, r)
}

// getLatestCheckpoint is GET /latest-checkpoint and the same beside every
// checkpoint path: the log's latest checkpoint, signed by the log alone; a
// frozen log's is its final checkpoint.
func (s *Server) getLatestCheckpoint(w http.ResponseWriter, r *http.Request) {
	sh, ok := s.tileLog(w, r)
	if !ok {
		return
	}
	head, err := shardHead(r.Context(), sh)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeCheckpoint(w, head.Checkpoint)
}

func writeCheckpoint(w http.ResponseWriter, note []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(note)
}

// witnessWaitOf is how long the write r waits for a cosigned checkpoint:
// its Tabula-Witness-Wait header capped by the maximum, else the server's
// default. A header that is not a number of seconds is an error.
func (s *Server) witnessWaitOf(r *http.Request) (time.Duration, error) {
	h := r.Header.Get(WitnessWaitHeader)
	if h == "" {
		return s.witnessWait, nil
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(h), 64)
	if err != nil || math.IsNaN(secs) || secs < 0 {
		return 0, fmt.Errorf("%s: want a number of seconds, got %q", WitnessWaitHeader, h)
	}
	if secs >= s.witnessWaitMax.Seconds() {
		return s.witnessWaitMax, nil
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// witnessedHead returns the head a new entry of sh at index is proved
// against: head (the log's, from the write), or, when the write waits d,
// the cosigned checkpoint covering it if one comes within d. It sets the
// Tabula-Witnessed header when the write waited. It also wakes the log's
// submitter for the new head.
func (s *Server) witnessedHead(ctx context.Context, w http.ResponseWriter, sh *logset.Shard, index uint64, head storage.TreeState, d time.Duration) storage.TreeState {
	if s.witnesses != nil {
		s.witnesses.Kick(sh.TreeID())
	}
	if d <= 0 {
		return head
	}
	if s.witnesses == nil || s.witnesses.Policy(sh) == nil {
		w.Header().Set(WitnessedHeader, "false")
		return head
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cp, err := s.witnesses.Wait(wctx, sh, index+1)
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.logger.Warn("waiting for a cosigned checkpoint", "tree_id", sh.TreeID(), "err", err)
		}
		w.Header().Set(WitnessedHeader, "false")
		return head
	}
	w.Header().Set(WitnessedHeader, "true")
	return cp
}

// rekorV1Head is head as a Rekor v1 answer carries it: its checkpoint with
// the log's signature line alone. Rekor v1's clients (rekor's
// util.SignedNote, which sigstore-go and cosign verify v1 entries with)
// refuse a checkpoint holding any other signature line, so a write that
// waited for witnesses gets the tree head they cosigned, signed by the log
// only; the cosignatures are at the log's /checkpoint.
func rekorV1Head(sh *logset.Shard, head storage.TreeState) storage.TreeState {
	if bytes.Count(head.Checkpoint, []byte("\n— ")) <= 1 {
		return head // the log's own, as the log signed it
	}
	p := sh.Log.Profile()
	v, err := checkpoint.NewVerifier(p.KeyName, p.KeyIDForm, sh.Log.Signer().Public())
	if err != nil {
		return head
	}
	if cp, err := checkpoint.SignaturesOf(head.Checkpoint, v.Name(), v.KeyHash()); err == nil {
		head.Checkpoint = cp
	}
	return head
}

// witnessStatus is /readyz's report of the witnessed logs.
func witnessStatus(st []submit.Status) []byte {
	var b []byte
	for _, l := range st {
		role := "standby (another replica submits)"
		if l.Leader {
			role = "submitting"
		}
		b = fmt.Appendf(b, "witnessed log %d (%s): head %d, cosigned %d", l.TreeID, l.Origin, l.HeadSize, l.CosignedSize)
		if !l.LastCosigned.IsZero() {
			b = fmt.Appendf(b, " at %s", l.LastCosigned.UTC().Format(time.RFC3339))
		}
		b = fmt.Appendf(b, "; %s\n", role)
		for _, x := range l.Witnesses {
			state := "ok"
			if x.LastError != "" {
				state = fmt.Sprintf("failing (%d in a row): %s", x.Failures, x.LastError)
			}
			b = fmt.Appendf(b, "  witness %s: size %d, %s\n", x.Name, x.Size, state)
		}
	}
	return b
}
