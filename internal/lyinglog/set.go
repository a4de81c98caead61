package lyinglog

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/monitor"
)

// Set is a server of several logs, as Tabula after `tabula log rotate`
// (Rekor v1's shards): frozen logs and one active log, each with its own
// tree ID and key. It serves GET /api/v1/log with inactiveShards, the
// active log's /checkpoint and /tile/…, every log's under /logs/{treeID}/,
// and publicKey?treeID= and proof?treeID=. It implements monitor.LogSet.
// RotateV2 adds Rekor v2 logs, listed by GET /logs (and V2Logs, so the set
// is a monitor.V2Lister) and read under /logs/{treeID}/.
//
// A frozen log is still a *Log: Append or Fork on it is the lie of a
// frozen log that grows or changes. Set.Rotate does not freeze the listed
// final checkpoint either: the listing shows each log's current one.
type Set struct {
	mu   sync.Mutex
	logs []*Log // oldest first; the last is active
	v2   []*Log // Rekor v2 logs, oldest first; the last is active
}

// V2TreeID is the tree ID of the first Rekor v2 log; the next ones count
// up from it.
const V2TreeID = "5252525252"

// NewSet returns a set of one active, empty log with tree ID [TreeID].
func NewSet() (*Set, error) {
	l, err := New()
	if err != nil {
		return nil, err
	}
	return &Set{logs: []*Log{l}}, nil
}

// Logs returns the logs, oldest first; the last is the active one.
func (s *Set) Logs() []*Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Log(nil), s.logs...)
}

// Active is the active log.
func (s *Set) Active() *Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs[len(s.logs)-1]
}

// Rotate freezes the active log and starts a new empty one with the next
// tree ID and, if newKey, a fresh key (else the same key).
func (s *Set) Rotate(newKey bool) (*Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.logs[len(s.logs)-1]
	id, err := strconv.ParseUint(old.treeID, 10, 63)
	if err != nil {
		return nil, err
	}
	priv := old.priv
	if newKey {
		if priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	l, err := newLog(strconv.FormatUint(id+1, 10), "", priv)
	if err != nil {
		return nil, err
	}
	s.logs = append(s.logs, l)
	return l, nil
}

// RotateV2 freezes the active Rekor v2 log, if any, and starts a new
// empty one with the next tree ID, the given origin and, if newKey or it is
// the first, a fresh Ed25519 key (else the same key: Tabula's v2 logs share
// log-key-v2.pem, their key IDs differ by origin).
func (s *Set) RotateV2(origin string, newKey bool) (*Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := strconv.ParseUint(V2TreeID, 10, 63)
	if err != nil {
		return nil, err
	}
	var priv crypto.Signer
	if n := len(s.v2); n > 0 {
		id += uint64(n)
		if !newKey {
			priv = s.v2[n-1].priv
		}
	}
	l, err := NewV2(strconv.FormatUint(id, 10), origin, priv)
	if err != nil {
		return nil, err
	}
	s.v2 = append(s.v2, l)
	return l, nil
}

// V2 returns the Rekor v2 logs, oldest first; the last is the active one.
func (s *Set) V2() []*Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Log(nil), s.v2...)
}

// V2Logs lists the Rekor v2 logs as GET /logs does (each with its current
// checkpoint). It implements monitor.V2Lister.
func (s *Set) V2Logs(context.Context) ([]monitor.SetLog, error) {
	logs := s.V2()
	out := make([]monitor.SetLog, len(logs))
	for i, l := range logs {
		cp, _ := l.Checkpoint(context.Background())
		out[i] = monitor.SetLog{TreeID: l.treeID, API: "v2", Frozen: i < len(logs)-1, Checkpoint: cp}
	}
	return out, nil
}

// find returns the log with tree ID id.
func (s *Set) find(id string) *Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range slices.Concat(s.logs, s.v2) {
		if l.treeID == id {
			return l
		}
	}
	return nil
}

// LogInfo is GET /api/v1/log: the active log, and the frozen ones in
// inactiveShards.
func (s *Set) LogInfo(context.Context) (models.LogInfo, error) {
	logs := s.Logs()
	info := logs[len(logs)-1].logInfo()
	info.InactiveShards = []*models.InactiveShardLogInfo{}
	for _, l := range logs[:len(logs)-1] {
		li := l.logInfo()
		info.InactiveShards = append(info.InactiveShards, &models.InactiveShardLogInfo{
			RootHash: li.RootHash, SignedTreeHead: li.SignedTreeHead, TreeID: li.TreeID, TreeSize: li.TreeSize,
		})
	}
	return info, nil
}

// Log reads the log with tree ID id (an empty log of that ID if there is
// none, whose reads fail).
func (s *Set) Log(id string) monitor.Log {
	if l := s.find(id); l != nil {
		return l
	}
	return missing(id)
}

type missing string

func (m missing) Checkpoint(context.Context) ([]byte, error) {
	return nil, fmt.Errorf("log %s: %w", string(m), ErrNotFound)
}
func (m missing) Tile(context.Context, uint8, uint64, int) ([]byte, error) {
	return nil, fmt.Errorf("log %s: %w", string(m), ErrNotFound)
}
func (m missing) EntryBundle(context.Context, uint64, int) ([]byte, error) {
	return nil, fmt.Errorf("log %s: %w", string(m), ErrNotFound)
}

// byTreeID finds the log a request's ?treeID= names (the active one when
// absent), or answers 400 as Rekor does.
func (s *Set) byTreeID(w http.ResponseWriter, r *http.Request) *Log {
	id := r.URL.Query().Get("treeID")
	if id == "" {
		return s.Active()
	}
	l := s.find(id)
	if l == nil {
		writeError(w, http.StatusBadRequest, "unknown treeID "+id)
	}
	return l
}

// Handler serves the set over HTTP as Tabula does (the read side only).
func (s *Set) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkpoint", func(w http.ResponseWriter, r *http.Request) { s.Active().serveCheckpoint(w) })
	mux.HandleFunc("GET /tile/", func(w http.ResponseWriter, r *http.Request) {
		s.Active().serveTile(w, r, strings.TrimPrefix(r.URL.Path, "/"))
	})
	mux.HandleFunc("GET /logs/{treeID}/", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("treeID")
		l := s.find(id)
		if l == nil {
			writeError(w, http.StatusNotFound, "no log "+id)
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, "/logs/"+id+"/")
		if rest == "checkpoint" {
			l.serveCheckpoint(w)
			return
		}
		l.serveTile(w, r, rest)
	})
	mux.HandleFunc("GET /api/v1/log", func(w http.ResponseWriter, r *http.Request) {
		info, _ := s.LogInfo(r.Context())
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /logs", func(w http.ResponseWriter, r *http.Request) {
		type desc struct {
			TreeID     string `json:"treeID"`
			API        string `json:"api"`
			Origin     string `json:"origin"`
			State      string `json:"state"`
			Checkpoint string `json:"checkpoint"`
		}
		out := struct {
			Logs []desc `json:"logs"`
		}{}
		for _, group := range [][]*Log{s.Logs(), s.V2()} {
			for i, l := range group {
				api, state := "v1", "active"
				if l.V2() {
					api = "v2"
				}
				if i < len(group)-1 {
					state = "frozen"
				}
				cp, _ := l.Checkpoint(r.Context())
				out.Logs = append(out.Logs, desc{TreeID: l.treeID, API: api, Origin: l.Origin(), State: state, Checkpoint: string(cp)})
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/log/publicKey", func(w http.ResponseWriter, r *http.Request) {
		if l := s.byTreeID(w, r); l != nil {
			l.servePublicKey(w)
		}
	})
	mux.HandleFunc("GET /api/v1/log/proof", func(w http.ResponseWriter, r *http.Request) {
		if l := s.byTreeID(w, r); l != nil {
			l.serveProof(w, r)
		}
	})
	return mux
}
