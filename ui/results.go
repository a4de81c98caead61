package ui

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/search"
	"github.com/tabularium/tabula/storage"
)

// MaxScan bounds the entries one page of results reads: the entries
// skipped to reach the page, and those an issuer filter turns down.
const MaxScan = 5000

// cursor walks one log's matching entries, newest (highest index) first:
// either the indexes a search found (idxs, ascending), or every entry
// below hi when idxs is nil.
type cursor struct {
	sh   *logset.Shard
	idxs []uint64
	hi   uint64
	cur  storage.Entry
	ok   bool
}

// advance reads the cursor's next entry.
func (c *cursor) advance(ctx context.Context) error {
	c.ok = false
	var i uint64
	switch {
	case len(c.idxs) > 0:
		i, c.idxs = c.idxs[len(c.idxs)-1], c.idxs[:len(c.idxs)-1]
	case c.idxs == nil && c.hi > 0:
		c.hi--
		i = c.hi
	default:
		return nil
	}
	e, err := c.sh.Log.Entry(ctx, i)
	if err != nil {
		return err
	}
	c.cur, c.ok = e, true
	return nil
}

// newer reports whether a's current entry comes before b's, newest first:
// by integrated time, then the newer log, then the higher index.
func newer(a, b *cursor) bool {
	if a.cur.IntegratedTime != b.cur.IntegratedTime {
		return a.cur.IntegratedTime > b.cur.IntegratedTime
	}
	if !a.sh.Info.CreatedAt.Equal(b.sh.Info.CreatedAt) {
		return a.sh.Info.CreatedAt.After(b.sh.Info.CreatedAt)
	}
	if a.sh.Info.StartIndex != b.sh.Info.StartIndex {
		return a.sh.Info.StartIndex > b.sh.Info.StartIndex
	}
	return a.cur.Index > b.cur.Index
}

// found is one entry of a page of results.
type found struct {
	sh *logset.Shard
	e  storage.Entry
}

// resultPage is one page of results.
type resultPage struct {
	Items     []found
	More      bool // a next page exists
	Truncated bool // MaxScan was reached before the page was full
}

// merge pages through cursors newest first, keeping the entries keep
// accepts (nil: all): page p (1-based) of PageSize.
func merge(ctx context.Context, cs []*cursor, p int, keep func(found) bool) (resultPage, error) {
	var out resultPage
	for _, c := range cs {
		if err := c.advance(ctx); err != nil {
			return out, err
		}
	}
	skip := (p - 1) * PageSize
	for scanned := 0; ; scanned++ {
		var best *cursor
		for _, c := range cs {
			if c.ok && (best == nil || newer(c, best)) {
				best = c
			}
		}
		if best == nil {
			return out, nil
		}
		if scanned >= MaxScan {
			out.Truncated = true
			return out, nil
		}
		f := found{best.sh, best.cur}
		if err := best.advance(ctx); err != nil {
			return out, err
		}
		if keep != nil && !keep(f) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(out.Items) == PageSize {
			out.More = true
			return out, nil
		}
		out.Items = append(out.Items, f)
	}
}

// newest is page p of the entries of shs, newest first, and how many
// entries they hold.
func newest(ctx context.Context, shs []*logset.Shard, p int) (resultPage, uint64, error) {
	cs, total, err := feed(ctx, shs)
	if err != nil {
		return resultPage{}, 0, err
	}
	rp, err := merge(ctx, cs, p, nil)
	return rp, total, err
}

// feed is a cursor over every entry of each log: the newest entries.
func feed(ctx context.Context, shs []*logset.Shard) ([]*cursor, uint64, error) {
	var cs []*cursor
	var total uint64
	for _, sh := range shs {
		h, err := head(ctx, sh)
		if err != nil {
			return nil, 0, err
		}
		total += h.Size
		if h.Size > 0 {
			cs = append(cs, &cursor{sh: sh, hi: h.Size})
		}
	}
	return cs, total, nil
}

// find runs q over every log: the cursors of its matches and their count.
func (u *UI) find(ctx context.Context, q query) ([]*cursor, uint64, error) {
	shs, err := u.shards(ctx)
	if err != nil {
		return nil, 0, err
	}
	var cs []*cursor
	var total uint64
	add := func(sh *logset.Shard, idxs []uint64) {
		if len(idxs) > 0 {
			cs = append(cs, &cursor{sh: sh, idxs: idxs})
			total += uint64(len(idxs))
		}
	}
	if len(q.Terms) > 0 {
		for _, sh := range shs {
			idxs, err := search.Log(ctx, sh, q.Terms, false)
			if err != nil {
				return nil, 0, err
			}
			add(sh, idxs)
		}
	}
	if q.Leaf != nil {
		sh, i, err := u.locate(ctx, *q.Leaf)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return nil, 0, err
		case q.Tree != 0 && uint64(sh.TreeID()) != q.Tree:
			// The EntryID names another log: not this entry.
		default:
			add(sh, []uint64{i})
		}
	}
	if q.Index != nil {
		for _, set := range u.sets() {
			sh, i, err := set.ByVirtualIndex(ctx, *q.Index)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, 0, err
			}
			if h, err := sh.Log.HeadCovering(ctx, i); err == nil && i < h.Size {
				add(sh, []uint64{i})
			}
		}
	}
	// A leaf found both as a digest and as a UUID is listed once.
	cs = dedup(cs)
	total = 0
	for _, c := range cs {
		total += uint64(len(c.idxs))
	}
	return cs, total, nil
}

// dedup merges cursors over one log, dropping repeated indexes.
func dedup(cs []*cursor) []*cursor {
	by := map[int64]*cursor{}
	var out []*cursor
	for _, c := range cs {
		d, ok := by[c.sh.TreeID()]
		if !ok {
			by[c.sh.TreeID()] = c
			out = append(out, c)
			continue
		}
		seen := map[uint64]bool{}
		var m []uint64
		for _, i := range append(d.idxs, c.idxs...) {
			if !seen[i] {
				seen[i] = true
				m = append(m, i)
			}
		}
		slices.Sort(m)
		d.idxs = m
	}
	return out
}

// issuerFilter keeps entries whose certificate names the OIDC issuer.
func issuerFilter(issuer string) func(found) bool {
	issuer = strings.TrimSpace(issuer)
	if issuer == "" {
		return nil
	}
	return func(f found) bool {
		for _, k := range decodeBody(f.e.Body).Keys {
			if k.Cert != nil && strings.EqualFold(k.Cert.Issuer, issuer) {
				return true
			}
		}
		return false
	}
}
