// Package policy parses witness policies (c2sp.org/tlog-policy) and checks
// whether a signed checkpoint meets one: signed by one of the policy's logs
// and cosigned (c2sp.org/tlog-cosignature, Ed25519 cosignature/v1) by a
// quorum of its witnesses.
package policy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
)

// Limits on a policy's size, well above the 32 logs, 32 witnesses and 32
// groups tlog-policy recommends supporting.
const (
	MaxLogs      = 256
	MaxWitnesses = 256
	MaxGroups    = 256
)

// None is the predefined name of the empty quorum.
const None = "none"

// Log is a log of a policy.
type Log struct {
	VKey     string
	URL      string // optional
	Verifier note.Verifier
}

// Witness is a witness of a policy.
type Witness struct {
	Name     string // the policy's name for it, not its key name
	URL      string // optional: its tlog-witness submission prefix
	Verifier *checkpoint.CosignatureVerifier
}

// Policy is a parsed tlog-policy file.
type Policy struct {
	Logs      []Log
	Witnesses []Witness
	quorum    *node // nil for "quorum none"
}

// node is a witness (witness >= 0) or a group of k of its members.
type node struct {
	witness int
	k       int
	members []*node
}

// Parse parses a tlog-policy file. Log keys are vkeys of any type
// transparency-dev/formats' note.NewVerifier reads (Ed25519, ECDSA,
// RFC 6962); witness keys must be Ed25519 cosignature/v1 vkeys (type 0x04).
func Parse(b []byte) (*Policy, error) {
	p := &Policy{}
	names := map[string]*node{}
	var groups int
	quorum := false
	for i, line := range bytes.Split(b, []byte{'\n'}) {
		n := i + 1
		for _, c := range line {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return nil, fmt.Errorf("policy: line %d: control character 0x%02x", n, c)
			}
		}
		f := fields(string(line))
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, fmt.Errorf("policy: line %d: want log <vkey> [<url>]", n)
			}
			if len(p.Logs) == MaxLogs {
				return nil, fmt.Errorf("policy: line %d: more than %d logs", n, MaxLogs)
			}
			v, err := fnote.NewVerifier(f[1])
			if err != nil {
				return nil, fmt.Errorf("policy: line %d: log key: %w", n, err)
			}
			for _, l := range p.Logs {
				if sameKey(l.VKey, f[1]) {
					return nil, fmt.Errorf("policy: line %d: duplicate log key", n)
				}
			}
			p.Logs = append(p.Logs, Log{VKey: f[1], URL: at(f, 2), Verifier: v})
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, fmt.Errorf("policy: line %d: want witness <name> <vkey> [<url>]", n)
			}
			if err := newName(names, f[1]); err != nil {
				return nil, fmt.Errorf("policy: line %d: %w", n, err)
			}
			if len(p.Witnesses) == MaxWitnesses {
				return nil, fmt.Errorf("policy: line %d: more than %d witnesses", n, MaxWitnesses)
			}
			v, err := checkpoint.ParseCosignatureVKey(f[2])
			if err != nil {
				return nil, fmt.Errorf("policy: line %d: witness %s: %w", n, f[1], err)
			}
			for _, w := range p.Witnesses {
				if bytes.Equal(w.Verifier.Public(), v.Public()) {
					return nil, fmt.Errorf("policy: line %d: witness %s has the key of witness %s", n, f[1], w.Name)
				}
			}
			names[f[1]] = &node{witness: len(p.Witnesses)}
			p.Witnesses = append(p.Witnesses, Witness{Name: f[1], URL: at(f, 3), Verifier: v})
		case "group":
			if len(f) < 4 {
				return nil, fmt.Errorf("policy: line %d: want group <name> all|any|<k> <member>... (one or more)", n)
			}
			if err := newName(names, f[1]); err != nil {
				return nil, fmt.Errorf("policy: line %d: %w", n, err)
			}
			if groups == MaxGroups {
				return nil, fmt.Errorf("policy: line %d: more than %d groups", n, MaxGroups)
			}
			g := &node{witness: -1}
			seen := map[string]bool{}
			for _, m := range f[3:] {
				c, ok := names[m]
				if !ok {
					return nil, fmt.Errorf("policy: line %d: group %s: member %q is not defined above", n, f[1], m)
				}
				if seen[m] {
					return nil, fmt.Errorf("policy: line %d: group %s: member %q listed twice", n, f[1], m)
				}
				seen[m] = true
				g.members = append(g.members, c)
			}
			switch f[2] {
			case "all":
				g.k = len(g.members)
			case "any":
				g.k = 1
			default:
				k, err := threshold(f[2])
				if err != nil || k < 1 || k > len(g.members) {
					return nil, fmt.Errorf("policy: line %d: group %s: threshold %q is not all, any or 1 to %d", n, f[1], f[2], len(g.members))
				}
				g.k = k
			}
			names[f[1]] = g
			groups++
		case "quorum":
			if len(f) != 2 {
				return nil, fmt.Errorf("policy: line %d: want quorum <name>", n)
			}
			if quorum {
				return nil, fmt.Errorf("policy: line %d: second quorum line", n)
			}
			quorum = true
			if f[1] == None {
				continue
			}
			q, ok := names[f[1]]
			if !ok {
				return nil, fmt.Errorf("policy: line %d: quorum %q is not defined above", n, f[1])
			}
			p.quorum = q
		default:
			return nil, fmt.Errorf("policy: line %d: unknown keyword %q", n, f[0])
		}
	}
	if !quorum {
		return nil, errors.New("policy: no quorum line")
	}
	return p, nil
}

// fields splits s at runs of ASCII spaces and tabs only.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}

func at(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// newName checks that name may be defined: not "none" and not yet defined.
func newName(names map[string]*node, name string) error {
	if name == None {
		return fmt.Errorf("%q is a reserved name", None)
	}
	if _, ok := names[name]; ok {
		return fmt.Errorf("name %q defined twice", name)
	}
	return nil
}

// threshold parses a decimal threshold without sign or leading zeros.
func threshold(s string) (int, error) {
	if s == "" || s[0] < '1' || s[0] > '9' || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("threshold %q is not a positive decimal", s)
	}
	return strconv.Atoi(s)
}

// sameKey reports whether vkeys a and b wrap the same public key: the same
// signature type and key bytes, whatever the key names and hints.
func sameKey(a, b string) bool {
	ka, oka := keyOf(a)
	kb, okb := keyOf(b)
	return oka && okb && ka == kb
}

func keyOf(vkey string) (string, bool) {
	_, rest, ok1 := strings.Cut(vkey, "+")
	_, key, ok2 := strings.Cut(rest, "+")
	return key, ok1 && ok2
}

// Quorum reports whether the witnesses that cosigned (a set of indexes into
// p.Witnesses) meet p's quorum.
func (p *Policy) Quorum(cosigned map[int]bool) bool {
	return p.quorum == nil || p.quorum.met(cosigned)
}

func (n *node) met(cosigned map[int]bool) bool {
	if n.witness >= 0 {
		return cosigned[n.witness]
	}
	k := 0
	for _, m := range n.members {
		if m.met(cosigned) {
			if k++; k >= n.k {
				return true
			}
		}
	}
	return false
}

// Cosignature is a verified cosignature of a witness of a policy.
type Cosignature struct {
	Witness int // index into Policy.Witnesses
	Time    time.Time
}

// Result is a checkpoint that met a policy.
type Result struct {
	Note         *note.Note
	Log          int // index into Policy.Logs of the log that signed it
	Cosignatures []Cosignature
}

// ErrNoQuorum is the error when a checkpoint's verified cosignatures do not
// meet the quorum.
var ErrNoQuorum = errors.New("policy: the checkpoint's cosignatures do not meet the quorum")

// Verify checks that b, a signed note, is signed by one of p's logs, whose
// key name is its origin line (see OriginOfKey), and cosigned by a quorum of p's witnesses. Signatures by unknown keys are
// ignored; a witness's cosignature that does not verify does not count,
// nor does a witness count twice. The error wraps [ErrNoQuorum] when only
// the quorum is missing.
func (p *Policy) Verify(b []byte) (*Result, error) {
	if len(p.Logs) == 0 {
		return nil, errors.New("policy: no log keys to verify the checkpoint with")
	}
	vs := make([]note.Verifier, len(p.Logs))
	for i, l := range p.Logs {
		vs[i] = l.Verifier
	}
	n, err := note.Open(b, note.VerifierList(vs...))
	if err != nil {
		return nil, fmt.Errorf("policy: verifying the log's signature: %w", err)
	}
	r := &Result{Note: n, Log: -1}
	for _, s := range n.Sigs {
		for i, l := range p.Logs {
			if r.Log < 0 && s.Name == l.Verifier.Name() && s.Hash == l.Verifier.KeyHash() {
				r.Log = i
			}
		}
	}
	if origin, _, _ := strings.Cut(n.Text, "\n"); !OriginOfKey(origin, p.Logs[r.Log].Verifier.Name()) {
		return nil, fmt.Errorf("policy: checkpoint origin %q is not one of the key name %q of the log that signed it", origin, p.Logs[r.Log].Verifier.Name())
	}
	cosigned := p.cosignatures(n, r)
	if !p.Quorum(cosigned) {
		return r, fmt.Errorf("%w (%d witnesses cosigned)", ErrNoQuorum, len(cosigned))
	}
	return r, nil
}

// OriginOfKey reports whether a checkpoint of origin may be signed by a
// log key named name: the origin is the key name (c2sp.org/tlog-checkpoint
// says it SHOULD be), or, as Rekor v1 names its trees, the key name
// followed by " - " and the tree ID ("rekor.sigstore.dev - 1193050959916656506",
// signed as "rekor.sigstore.dev"). The check keeps a log's key from vouching
// for another log's origin.
func OriginOfKey(origin, name string) bool {
	if origin == name {
		return true
	}
	id, ok := strings.CutPrefix(origin, name+" - ")
	if !ok || id == "" {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// cosignatures verifies n's signature lines by p's witnesses, records them
// in r and returns the set of witnesses whose cosignature verified.
func (p *Policy) cosignatures(n *note.Note, r *Result) map[int]bool {
	cosigned := map[int]bool{}
	for _, s := range n.UnverifiedSigs {
		for i, w := range p.Witnesses {
			v := w.Verifier
			if cosigned[i] || s.Name != v.Name() || s.Hash != v.KeyHash() {
				continue
			}
			sig, err := decodeSig(s.Base64)
			if err != nil {
				continue
			}
			if t, ok := v.VerifyTime([]byte(n.Text), sig); ok {
				cosigned[i] = true
				r.Cosignatures = append(r.Cosignatures, Cosignature{Witness: i, Time: t})
			}
		}
	}
	return cosigned
}

// decodeSig is a signature line's signature without its 4-byte key hint.
func decodeSig(b64 string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, errors.New("signature shorter than its key hint")
	}
	return b[4:], nil
}
