package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/storage"
)

var funcs = template.FuncMap{
	"join":    strings.Join,
	"maxScan": func() int { return MaxScan },
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// chartSamples is how many entries a log page reads for its growth chart.
const chartSamples = 24

// chart is the SVG growth chart of a log: entries against time, from
// sampled entries' integrated times. Points are numbers the server
// computed, never entry data.
type chart struct {
	Points        string // SVG polyline points, in a 400×120 box
	From, To      string
	Size          uint64
	PerHour       string
	Width, Height int
}

func growthChart(ctx context.Context, sh *logset.Shard, size uint64) (*chart, error) {
	if size < 2 {
		return nil, nil
	}
	type pt struct {
		t int64
		n uint64
	}
	var pts []pt
	n := uint64(chartSamples)
	if size < n {
		n = size
	}
	for k := uint64(0); k < n; k++ {
		i := k * (size - 1) / (n - 1)
		e, err := sh.Log.Entry(ctx, i)
		if err != nil {
			return nil, err
		}
		if e.IntegratedTime == 0 {
			return nil, nil
		}
		pts = append(pts, pt{e.IntegratedTime, i + 1})
	}
	t0, t1 := pts[0].t, pts[len(pts)-1].t
	c := &chart{Width: 400, Height: 120, Size: size, From: unixTime(t0), To: unixTime(t1)}
	span := t1 - t0
	var b strings.Builder
	for _, p := range pts {
		x := 0.0
		if span > 0 {
			x = float64(p.t-t0) / float64(span) * 400
		}
		y := 120 - float64(p.n)/float64(size)*120
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
	}
	c.Points = strings.TrimSpace(b.String())
	if span > 0 {
		c.PerHour = strconv.FormatFloat(float64(size-1)/(float64(span)/3600), 'f', 1, 64)
	}
	return c, nil
}

type logData struct {
	Log       logView
	Cosigned  string
	Witnessed bool
	Chart     *chart
	// Live marks the newest entries for static/feed.js: an active log's
	// first page; FeedInterval is its polling period in milliseconds.
	Live         bool
	FeedInterval int64
	listData
}

// logPage is /log/{tree}.
func (u *UI) logPage(w http.ResponseWriter, r *http.Request) {
	tree, err := strconv.ParseInt(r.PathValue("tree"), 10, 64)
	if err != nil || tree <= 0 {
		u.fail(w, r, http.StatusBadRequest, "A tree ID is a positive decimal number.")
		return
	}
	p, ok := pageParam(r)
	if !ok {
		u.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The page must be a number from 1 to %d.", MaxPage))
		return
	}
	ctx := r.Context()
	sh, err := u.shard(ctx, tree)
	if errors.Is(err, storage.ErrNotFound) {
		u.fail(w, r, http.StatusNotFound, "This server has no log of this tree ID.")
		return
	}
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	d := logData{}
	if d.Log, err = describe(ctx, sh); err != nil {
		u.unavailable(w, r, err)
		return
	}
	if m := u.cfg.Witnesses; m != nil && m.Policy(sh) != nil {
		d.Witnessed = true
		cp, found, err := m.Cosigned(ctx, sh)
		if err != nil {
			u.unavailable(w, r, err)
			return
		}
		if found {
			d.Cosigned = string(cp.Checkpoint)
		}
	}
	if d.Chart, err = growthChart(ctx, sh, d.Log.Size); err != nil {
		u.unavailable(w, r, err)
		return
	}
	rp, total, err := newest(ctx, []*logset.Shard{sh}, p)
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	d.Total = total
	d.fill("/log/"+d.Log.TreeID, "", "", p, rp)
	d.Live = sh.Active() && p == 1
	d.FeedInterval = u.cfg.FeedInterval.Milliseconds()
	u.render(w, r, http.StatusOK, "log", page{Title: "Log " + d.Log.Origin, Data: d})
}

type aboutData struct {
	Logs                       []logView
	Server                     string
	TrustedRoot, SigningConfig string
	AboutErr                   string
}

// baseURL is the server's URL as the client of r reached it: the request's
// scheme (https if it came over TLS, else http: behind a proxy terminating
// TLS, clients are told http://) and its Host header. The documents built
// for it are only ever sent back to that client.
func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// about is /about: the server's logs and keys, its trusted root and
// signing config.
func (u *UI) about(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	shs, err := u.shards(ctx)
	if err != nil {
		u.unavailable(w, r, err)
		return
	}
	d := aboutData{Server: baseURL(r)}
	for _, sh := range shs {
		lv, err := describe(ctx, sh)
		if err != nil {
			u.unavailable(w, r, err)
			return
		}
		d.Logs = append(d.Logs, lv)
	}
	if u.cfg.About != nil {
		tr, sc, err := u.cfg.About(ctx, d.Server)
		if err != nil {
			u.logger.Warn("ui: trusted root", "err", err)
			d.AboutErr = "The trusted root could not be built just now."
		} else {
			d.TrustedRoot, d.SigningConfig = string(tr), string(sc)
		}
	}
	u.render(w, r, http.StatusOK, "about", page{Title: "About this server", Data: d})
}

// aboutFile is /about/trusted_root.json and /about/signing_config.json:
// the documents of /about to download, for clients reaching the server as
// this request did.
func (u *UI) aboutFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if (name != "trusted_root.json" && name != "signing_config.json") || u.cfg.About == nil {
		u.fail(w, r, http.StatusNotFound, "There is no such file.")
		return
	}
	tr, sc, err := u.cfg.About(r.Context(), baseURL(r))
	if err != nil {
		u.logger.Warn("ui: trusted root", "err", err)
		u.fail(w, r, http.StatusServiceUnavailable, "The trusted root could not be built just now; try again shortly.")
		return
	}
	b := sc
	if name == "trusted_root.json" {
		b = tr
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
