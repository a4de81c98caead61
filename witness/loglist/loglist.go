// Package loglist parses the log list a witness cosigns: the witness
// network's log-list format (transparency-dev/witness-network
// log-list-format.md) with one Tabula extension, the feed line.
//
//	# comment
//	logs/v0
//
//	vkey <vkey>
//	origin <origin>|none
//	qpd <add-checkpoints per day>
//	bastion <url>|none
//	contact <anything>
//	feed tiles <url>
//	feed rekor <url>[?treeID=<id>]
//
// The list starts with the header logs/v0 (after any blank and comment
// lines). Each log starts with its vkey line; the lines after it, up to the
// next vkey, describe it, in any order, each at most once. origin defaults
// to the vkey's key name (also for "origin none"). qpd, bastion and contact
// are read and ignored. feed (Tabula's) makes the witness fetch the log's
// checkpoints itself: "tiles" for a c2sp.org/tlog-tiles log at <url>,
// "rekor" for a Rekor v1 log (a shard of it with ?treeID=). Without it the
// log pushes its checkpoints (add-checkpoint).
//
// vkeys are read by transparency-dev/formats' note.NewVerifier: Ed25519
// (type 0x01), ECDSA P-256 with SHA-256 (0x02: the key hint is
// SHA-256(DER SubjectPublicKeyInfo)[:4], as Rekor v1 and Tabula's rekor-v1
// logs derive it, and the key name is free, by convention the log's host
// name) and RFC 6962 STH keys (0x05). A Rekor v1 log's origin is
// "<host> - <treeID>" and must be given with an origin line, since it is
// not the key name.
//
// checkpoint.VKey gives a Tabula log's vkey, and `tabula log vkeys` prints
// a server's logs in this format.
//
// Two entries with one origin are one log with several keys (a key
// change); their feeds, if any, must agree.
package loglist

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/witness"
)

// Header is the list's first line.
const Header = "logs/v0"

// Limits on a list.
const (
	MaxLogs    = 10000
	MaxLineLen = 4096
)

type entry struct {
	line   int
	vkey   string
	v      note.Verifier
	origin string
	seen   map[string]bool
	feed   *witness.Feed
}

// Parse parses a log list and returns its logs, in the order of their first
// entry.
func Parse(b []byte) ([]witness.Log, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("loglist: not UTF-8")
	}
	var (
		header  bool
		entries []*entry
		cur     *entry
	)
	for i, raw := range strings.Split(string(b), "\n") {
		n := i + 1
		if len(raw) > MaxLineLen {
			return nil, fmt.Errorf("loglist: line %d: longer than %d bytes", n, MaxLineLen)
		}
		for _, c := range raw {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return nil, fmt.Errorf("loglist: line %d: control character %U", n, c)
			}
		}
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !header {
			if line != Header {
				return nil, fmt.Errorf("loglist: line %d: want the header %s first", n, Header)
			}
			header = true
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		if key == "vkey" {
			if len(entries) == MaxLogs {
				return nil, fmt.Errorf("loglist: line %d: more than %d logs", n, MaxLogs)
			}
			if val == "" || strings.ContainsAny(val, " \t") {
				return nil, fmt.Errorf("loglist: line %d: want vkey <vkey>", n)
			}
			v, err := fnote.NewVerifier(val)
			if err != nil {
				return nil, fmt.Errorf("loglist: line %d: vkey: %w", n, err)
			}
			cur = &entry{line: n, vkey: val, v: v, origin: v.Name(), seen: map[string]bool{}}
			entries = append(entries, cur)
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("loglist: line %d: %q before the first vkey line", n, key)
		}
		if cur.seen[key] {
			return nil, fmt.Errorf("loglist: line %d: second %s line for the log of line %d", n, key, cur.line)
		}
		cur.seen[key] = true
		switch key {
		case "origin":
			if val == "" {
				return nil, fmt.Errorf("loglist: line %d: want origin <origin>|none", n)
			}
			if val != "none" {
				cur.origin = val
			}
		case "qpd":
			if _, err := strconv.ParseUint(val, 10, 64); err != nil {
				return nil, fmt.Errorf("loglist: line %d: qpd %q is not a number", n, val)
			}
		case "bastion", "contact":
		case "feed":
			f, err := parseFeed(val)
			if err != nil {
				return nil, fmt.Errorf("loglist: line %d: %w", n, err)
			}
			cur.feed = f
		default:
			return nil, fmt.Errorf("loglist: line %d: unknown line %q", n, key)
		}
	}
	if !header {
		return nil, fmt.Errorf("loglist: no %s header", Header)
	}
	var (
		logs  []witness.Log
		index = map[string]int{}
	)
	for _, e := range entries {
		i, ok := index[e.origin]
		if !ok {
			index[e.origin] = len(logs)
			logs = append(logs, witness.Log{Origin: e.origin, Verifiers: []note.Verifier{e.v}, Feed: e.feed})
			continue
		}
		l := &logs[i]
		for _, v := range l.Verifiers {
			if v.Name() == e.v.Name() && v.KeyHash() == e.v.KeyHash() {
				return nil, fmt.Errorf("loglist: line %d: origin %q lists key %s+%08x twice", e.line, e.origin, v.Name(), v.KeyHash())
			}
		}
		l.Verifiers = append(l.Verifiers, e.v)
		switch {
		case e.feed == nil:
		case l.Feed == nil:
			l.Feed = e.feed
		case *l.Feed != *e.feed:
			return nil, fmt.Errorf("loglist: line %d: origin %q has two feeds", e.line, e.origin)
		}
	}
	return logs, nil
}

func parseFeed(val string) (*witness.Feed, error) {
	kind, raw, _ := strings.Cut(val, " ")
	raw = strings.TrimSpace(raw)
	if raw == "" || strings.ContainsAny(raw, " \t") {
		return nil, errors.New("want feed tiles|rekor <url>")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("feed URL %q is not an http(s) URL", raw)
	}
	switch kind {
	case witness.FeedTiles:
		if u.RawQuery != "" {
			return nil, fmt.Errorf("feed URL %q: a tiles log URL has no query", raw)
		}
	case witness.FeedRekor:
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return nil, fmt.Errorf("feed URL %q: %w", raw, err)
		}
		for k, vs := range q {
			if k != "treeID" || len(vs) != 1 {
				return nil, fmt.Errorf("feed URL %q: the only query parameter is one treeID", raw)
			}
			if id, err := strconv.ParseInt(vs[0], 10, 64); err != nil || id <= 0 {
				return nil, fmt.Errorf("feed URL %q: treeID %q is not a positive number", raw, vs[0])
			}
		}
	default:
		return nil, fmt.Errorf("feed kind %q: want tiles or rekor", kind)
	}
	return &witness.Feed{Kind: kind, URL: raw}, nil
}
