package ui

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
)

// summary is an entry in a list of results.
type summary struct {
	Href, UUID     string
	TreeID, Origin string
	API            string
	Index          uint64
	Time           string
	Kind, Version  string
	Identities     []string
	Issuer         string
}

func summarize(f found) summary {
	b := decodeBody(f.e.Body)
	s := summary{
		Href:    fmt.Sprintf("/log/%d/entry/%d", f.sh.TreeID(), f.e.Index),
		UUID:    entryID(f.sh, f.e.LeafHash),
		TreeID:  strconv.FormatInt(f.sh.TreeID(), 10),
		Origin:  f.sh.Log.Origin(),
		API:     apiOf(f.sh.Info.Profile),
		Index:   f.e.Index,
		Time:    unixTime(f.e.IntegratedTime),
		Kind:    b.Kind,
		Version: b.Version,
	}
	for _, k := range b.Keys {
		if c := k.Cert; c != nil {
			s.Identities = append(s.Identities, c.Emails...)
			s.Identities = append(s.Identities, c.URIs...)
			if c.OtherName != "" {
				s.Identities = append(s.Identities, c.OtherName)
			}
			if s.Issuer == "" {
				s.Issuer = c.Issuer
			}
		} else if k.Fingerprint != "" {
			s.Identities = append(s.Identities, "key "+k.Type+" "+k.Fingerprint[:16]+"…")
		}
	}
	return s
}

func unixTime(t int64) string {
	if t == 0 {
		return ""
	}
	return time.Unix(t, 0).UTC().Format(time.RFC3339)
}

// pageParam reads ?page=, 1 by default; ok false when it is bad.
func pageParam(r *http.Request) (int, bool) {
	s := r.URL.Query().Get("page")
	if s == "" {
		return 1, true
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > MaxPage {
		return 0, false
	}
	return p, true
}

type listData struct {
	Query, Issuer, Kind string
	Total               uint64
	Page                int
	Items               []summary
	Prev, Next          string // links, "" when none
	Truncated           bool
	Logs                []logView
}

func (d *listData) fill(path string, q, issuer string, p int, rp resultPage) {
	d.Page = p
	d.Truncated = rp.Truncated
	for _, f := range rp.Items {
		d.Items = append(d.Items, summarize(f))
	}
	link := func(p int) string {
		v := make([]string, 0, 3)
		if q != "" {
			v = append(v, "q="+urlQueryEscape(q))
		}
		if issuer != "" {
			v = append(v, "issuer="+urlQueryEscape(issuer))
		}
		v = append(v, "page="+strconv.Itoa(p))
		return path + "?" + strings.Join(v, "&")
	}
	if p > 1 {
		d.Prev = link(p - 1)
	}
	if rp.More && p < MaxPage {
		d.Next = link(p + 1)
	}
}

// home is / : the search box, the logs, and the newest entries of all.
func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	p, ok := pageParam(r)
	if !ok {
		u.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The page must be a number from 1 to %d.", MaxPage))
		return
	}
	ctx := r.Context()
	shs, err := u.shards(ctx)
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	d := listData{}
	for _, sh := range shs {
		lv, err := describe(ctx, sh)
		if err != nil {
			u.unavailable(w, r, err)
			return
		}
		d.Logs = append(d.Logs, lv)
	}
	rp, total, err := newest(ctx, shs, p)
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	d.Total = total
	d.fill("/", "", "", p, rp)
	u.render(w, r, http.StatusOK, "home", page{Title: "Tabula explorer", Data: d})
}

// search is /search?q=&issuer=&page=.
func (u *UI) search(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	text, issuer := strings.TrimSpace(qs.Get("q")), strings.TrimSpace(qs.Get("issuer"))
	p, ok := pageParam(r)
	if !ok {
		u.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The page must be a number from 1 to %d.", MaxPage))
		return
	}
	if len(issuer) > 1024 {
		u.fail(w, r, http.StatusBadRequest, "The issuer is too long.")
		return
	}
	ctx := r.Context()
	d := listData{Query: text, Issuer: issuer}
	var cs []*cursor
	var err error
	if text == "" && issuer == "" {
		u.render(w, r, http.StatusOK, "search", page{Title: "Search", Data: d})
		return
	}
	if text == "" {
		// The newest entries of every log, filtered by issuer.
		var shs []*logset.Shard
		if shs, err = u.shards(ctx); err == nil {
			cs, _, err = feed(ctx, shs)
		}
		d.Kind = "every entry"
	} else {
		q, qerr := classify(text)
		if qerr != nil {
			d.Kind = "not understood"
			if len(text) > MaxQuery {
				// Refused for its size: not echoed back (up to the HTTP
				// server's header limit, several times over).
				text, d.Query = "", ""
			}
			u.render(w, r, http.StatusBadRequest, "search", page{Title: "Search", Query: text, Data: struct {
				listData
				Error string
			}{d, qerr.Error()}})
			return
		}
		d.Kind = q.Kind
		cs, d.Total, err = u.find(ctx, q)
	}
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	rp, err := merge(ctx, cs, p, issuerFilter(issuer))
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	d.fill("/search", text, issuer, p, rp)
	u.render(w, r, http.StatusOK, "search", page{Title: "Search: " + text, Query: text, Data: struct {
		listData
		Error string
	}{d, ""}})
}

// entryByID is /entry/{uuid}: a 64-hex leaf hash in any log, or an 80-hex
// Rekor v1 EntryID in the log it names.
func (u *UI) entryByID(w http.ResponseWriter, r *http.Request) {
	id := strings.ToLower(r.PathValue("id"))
	if (len(id) != 64 && len(id) != 80) || !hexRE.MatchString(id) {
		u.fail(w, r, http.StatusBadRequest, "An entry UUID is 64 or 80 hex digits.")
		return
	}
	var leaf [32]byte
	_, _ = hex.Decode(leaf[:], []byte(id[len(id)-64:]))
	sh, i, err := u.locate(r.Context(), leaf)
	if err == nil && len(id) == 80 {
		tree, _ := strconv.ParseUint(id[:16], 16, 64)
		if uint64(sh.TreeID()) != tree {
			err = storage.ErrNotFound
		}
	}
	u.showEntry(w, r, sh, i, err)
}

// entryByIndex is /log/{tree}/entry/{index}: the permalink by log and index.
func (u *UI) entryByIndex(w http.ResponseWriter, r *http.Request) {
	tree, err := strconv.ParseInt(r.PathValue("tree"), 10, 64)
	if err != nil || tree <= 0 {
		u.fail(w, r, http.StatusBadRequest, "A tree ID is a positive decimal number.")
		return
	}
	i, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		u.fail(w, r, http.StatusBadRequest, "An index is a decimal number.")
		return
	}
	sh, err := u.shard(r.Context(), tree)
	u.showEntry(w, r, sh, i, err)
}

// proofView is the inclusion proof shown to readers without JavaScript.
type proofView struct {
	TreeSize   uint64
	Root       string
	LeafHash   string
	Hashes     []string
	Checkpoint string
	Command    string
	Err        string
}

type entryData struct {
	UUID, Permalink, ByUUID string
	Log                     logView
	Index                   uint64
	Virtual                 string
	Time                    string
	Body                    bodyView
	Statement               *statementView
	Attestation             string
	RawHref, V1Href         string
	Proof                   proofView
}

func (u *UI) showEntry(w http.ResponseWriter, r *http.Request, sh *logset.Shard, i uint64, err error) {
	ctx := r.Context()
	var h storage.TreeState
	if err == nil {
		h, err = sh.Log.HeadCovering(ctx, i)
		if errors.Is(err, log.ErrOutOfRange) {
			err = storage.ErrNotFound
		}
	}
	var e storage.Entry
	if err == nil {
		e, err = sh.Log.Entry(ctx, i)
	}
	if errors.Is(err, storage.ErrNotFound) {
		u.fail(w, r, http.StatusNotFound, "No log of this server holds this entry.")
		return
	}
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	lv, err := describe(ctx, sh)
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	d := entryData{
		UUID:      entryID(sh, e.LeafHash),
		Permalink: fmt.Sprintf("/log/%d/entry/%d", sh.TreeID(), i),
		Log:       lv,
		Index:     i,
		Time:      unixTime(e.IntegratedTime),
		Body:      decodeBody(e.Body),
		RawHref:   fmt.Sprintf("/logs/%d/entries/%d", sh.TreeID(), i),
	}
	d.ByUUID = "/entry/" + d.UUID
	if lv.API == "v1" {
		d.Virtual = strconv.FormatUint(sh.Virtual(i), 10)
		d.V1Href = "/api/v1/log/entries/" + d.UUID
	}
	if len(e.Attestation) > 0 {
		d.Statement = decodeStatement(e.Attestation)
		d.Attestation = pretty(e.Attestation)
	}
	d.Proof = u.proof(ctx, r, sh, e, h, d)
	u.render(w, r, http.StatusOK, "entry", page{Title: "Entry " + d.UUID, Data: d})
}

func (u *UI) proof(ctx context.Context, r *http.Request, sh *logset.Shard, e storage.Entry, h storage.TreeState, d entryData) proofView {
	p := proofView{TreeSize: h.Size, Root: hex.EncodeToString(h.Root[:]), LeafHash: hex.EncodeToString(e.LeafHash[:]),
		Checkpoint: string(h.Checkpoint)}
	hashes, err := sh.Log.InclusionProof(ctx, e.Index, h.Size)
	if err != nil {
		u.logger.Warn("ui: inclusion proof", "tree", sh.TreeID(), "index", e.Index, "err", err)
		p.Err = "the proof could not be read"
	}
	for _, x := range hashes {
		p.Hashes = append(p.Hashes, hex.EncodeToString(x[:]))
	}
	server := "http://" + r.Host
	if r.TLS != nil {
		server = "https://" + r.Host
	}
	if d.Log.API == "v1" {
		p.Command = fmt.Sprintf("tabula get --server %s --uuid %s --json > entry.json && tabula verify --entry entry.json --server %s --online",
			server, d.UUID, server)
	} else {
		p.Command = fmt.Sprintf("curl -s %s%s  # Rekor v2 entry with its proof; verify a bundle with: tabula verify --bundle B.json --trusted-root <(tabula trusted-root --server %s)",
			server, d.RawHref, server)
	}
	return p
}
