package ui_test

import (
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/ui"
)

var (
	nextRE  = regexp.MustCompile(`<a rel="next" href="([^"]+)">`)
	totalRE = regexp.MustCompile(`</strong> as ([^:<]+): (\d+) found, newest first\.`)
)

// searchAll walks every page of the search for q, from the first by the
// pages' "older" links, checking each page holds PageSize results but the
// last; it returns the results in order and the kind and count the first
// page announces.
func searchAll(t *testing.T, s *site, q string) (got []string, kind, total string) {
	t.Helper()
	next := "/search?q=" + url.QueryEscape(q)
	for n := 1; next != ""; n++ {
		if n > 20 {
			t.Fatalf("search %q: more than 20 pages", q)
		}
		body := mustGet(t, s, next)
		if n == 1 {
			m := totalRE.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("search %q: the page announces no count:\n%s", q, body)
			}
			kind, total = m[1], m[2]
		}
		rows := results(body)
		next = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			next = html.UnescapeString(m[1])
			if len(rows) != ui.PageSize {
				t.Errorf("search %q: page %d has %d results and a next page", q, n, len(rows))
			}
		}
		if len(rows) > ui.PageSize {
			t.Errorf("search %q: page %d has %d results, more than %d", q, n, len(rows), ui.PageSize)
		}
		got = append(got, rows...)
	}
	return got, kind, total
}

// TestSearchIdentityConcurrent writes entries of several identities (three
// email addresses, one the others' suffix, and a workflow URI) from
// concurrent writers, each with its own key and certificate, into a Rekor
// v1 log, its successor after a rotation and a Rekor v2 log at once, with
// entries of a bare key among them. On both engines, searching each
// identity through the explorer and walking all its pages returns exactly
// that identity's entries across the three logs, each once, newest first.
func TestSearchIdentityConcurrent(t *testing.T) {
	const (
		writersPerIdentity = 2 // per log API and phase
		v1PerWriter        = 5
		v2PerWriter        = 2
	)
	identities := []struct {
		name, kind string
		uri        bool
	}{
		{"ann@example.com", "email", false},
		{"bob@example.com", "email", false},
		{"xann@example.com", "email", false},
		{"https://github.com/org/ann/.github/workflows/release.yml@refs/heads/main", "URI identity", true},
	}
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, e, true)
			var mu sync.Mutex
			written := map[string][]string{} // identity -> entry pages
			bare, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}

			// phase writes, from concurrent writers, each identity's entries
			// to the active v1 log and to the v2 log, and some of the bare key.
			phase := func(ph int) {
				type writer struct {
					id     string // "": the bare key
					sg     *testentry.Signer
					path   string
					n      int
					prefix string
				}
				var ws []writer
				for _, id := range identities {
					for w := range writersPerIdentity {
						for _, v2 := range []bool{false, true} {
							var sg *testentry.Signer
							if id.uri {
								sg = workflowSigner(t, id.name, actionsIssuer)
							} else if sg, err = testentry.NewCertSigner(id.name); err != nil {
								t.Fatal(err)
							}
							wr := writer{id: id.name, sg: sg, path: "/api/v1/log/entries", n: v1PerWriter}
							if v2 {
								wr.path, wr.n = "/api/v2/log/entries", v2PerWriter
							}
							wr.prefix = fmt.Sprintf("%s phase %d writer %d %s", id.name, ph, w, wr.path)
							ws = append(ws, wr)
						}
					}
				}
				ws = append(ws, writer{sg: bare, path: "/api/v1/log/entries", n: 3, prefix: fmt.Sprintf("bare phase %d", ph)})
				var wg sync.WaitGroup
				errs := make(chan error, len(ws))
				for _, w := range ws {
					wg.Go(func() {
						for i := range w.n {
							artifact := []byte(fmt.Sprintf("%s entry %d", w.prefix, i))
							var body []byte
							var err error
							if w.path == "/api/v2/log/entries" {
								body, err = w.sg.HashedRekordV2(artifact)
							} else {
								body, err = w.sg.HashedRekord(artifact)
							}
							if err != nil {
								errs <- err
								return
							}
							loc, err := s.tryPost(w.path, body)
							if err != nil {
								errs <- err
								return
							}
							if w.id != "" {
								mu.Lock()
								written[w.id] = append(written[w.id], loc)
								mu.Unlock()
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
			}
			phase(1)
			logsettest.Rotate(t, s.store, s.key2)
			phase(2)

			want := 2 * writersPerIdentity * (v1PerWriter + v2PerWriter)
			if want <= ui.PageSize {
				t.Fatalf("%d entries per identity fit on one page of %d: the test pages nothing", want, ui.PageSize)
			}
			for _, id := range identities {
				trees := map[string]bool{}
				got, kind, total := searchAll(t, s, id.name)
				if kind != id.kind || total != fmt.Sprint(want) {
					t.Errorf("search %q: %d found as %s, want %d as %s", id.name, mustInt(t, total), kind, want, id.kind)
				}
				seen := map[string]bool{}
				for _, p := range got {
					if seen[p] {
						t.Errorf("search %q: %s listed twice", id.name, p)
					}
					seen[p] = true
					trees[strings.Split(p, "/")[2]] = true
				}
				if w := written[id.name]; len(w) != want || !sameSet(got, w) {
					t.Fatalf("search %q: found %d entries\n%v\nwant the %d written\n%v", id.name, len(got), got, len(w), w)
				}
				if len(trees) != 3 {
					t.Errorf("search %q: the entries are in %d logs, want 3 (v1, its successor, v2)", id.name, len(trees))
				}
				checkOrder(t, s, got)
			}
		})
	}
}
