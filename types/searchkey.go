package types

import (
	"crypto/sha256"
	"strings"
)

// KeyKind says what a search key names. Keys of different kinds never match
// each other, even when their texts are equal: a certificate whose DNS name
// is someone's key fingerprint is not found by a search for that key.
type KeyKind string

// The kinds of search key, and which field of POST /api/v1/index/retrieve
// finds each.
const (
	// KindDigest is an artifact digest "<algorithm>:<hex>" (hash).
	KindDigest KeyKind = "digest"
	// KindKey is a public key's fingerprint: the lower-case hex SHA-256 of
	// its canonical form, without prefix (publicKey).
	KindKey KeyKind = "key"
	// KindEmail is an email identity: a certificate's email SAN, an OpenPGP
	// user-id email, an ssh key's email comment (email, and subject).
	KindEmail KeyKind = "email"
	// KindSubject is any other certificate identity: DNS, IP, URI and
	// Fulcio OtherName SANs (subject).
	KindSubject KeyKind = "subject"
)

// MaxSearchKeys is the most distinct search keys one entry may be indexed
// under. An entry with more is refused at upload (a 400): every key is a row
// written in the batch's transaction.
const MaxSearchKeys = 1024

// SearchKeyDomain prefixes every search key's hash, so that these hashes
// never equal a hash made for another purpose.
const SearchKeyDomain = "tabula-search-key:"

// SearchKey is one key an entry can be found by.
type SearchKey struct {
	Kind  KeyKind
	Value string
}

// Hash is what the search index stores for k, and what a search looks up:
//
//	SHA-256("tabula-search-key:" || kind || ":" || strings.ToLower(value))
//
// with kind one of "digest", "key", "email", "subject" (none holds a colon,
// so the first colon after the prefix ends the kind) and the value's bytes
// as they are, lower-cased as Rekor lower-cases every index key (Go's
// strings.ToLower: Unicode simple case mapping; an invalid UTF-8 byte
// becomes U+FFFD). Any value, of any length or content, has a hash.
func (k SearchKey) Hash() [32]byte {
	return HashSearchKey(k.Kind, strings.ToLower(k.Value))
}

// HashSearchKey is Hash for a value already lower-cased: the bytes hashed are
// exactly SearchKeyDomain, kind, ":" and lower. Schema migrations that hash
// keys stored lower-cased use it (and SQL that does the same).
func HashSearchKey(kind KeyKind, lower string) [32]byte {
	h := sha256.New()
	h.Write([]byte(SearchKeyDomain))
	h.Write([]byte(kind))
	h.Write([]byte{':'})
	h.Write([]byte(lower))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func (k SearchKey) String() string { return string(k.Kind) + ":" + k.Value }

// Digest returns the digest key "<alg>:<value>".
func Digest(alg, value string) SearchKey {
	return SearchKey{Kind: KindDigest, Value: alg + ":" + value}
}

// KeySet collects an entry's search keys: lower-cased, without empty values
// or repeats, in the order first added.
type KeySet struct {
	keys []SearchKey
	seen map[SearchKey]bool
}

// Add adds keys of one kind; empty values are skipped.
func (s *KeySet) Add(kind KeyKind, values ...string) {
	if s.seen == nil {
		s.seen = make(map[SearchKey]bool)
	}
	for _, v := range values {
		k := SearchKey{Kind: kind, Value: strings.ToLower(v)}
		if k.Value == "" || s.seen[k] {
			continue
		}
		s.seen[k] = true
		s.keys = append(s.keys, k)
	}
}

// Keys returns the collected keys.
func (s *KeySet) Keys() []SearchKey { return s.keys }

// checkSearchKeys lower-cases keys and drops empty values and repeats (a
// type's keys normally come so already), and refuses more than
// MaxSearchKeys.
func checkSearchKeys(keys []SearchKey) ([]SearchKey, error) {
	var s KeySet
	for _, k := range keys {
		s.Add(k.Kind, k.Value)
	}
	if n := len(s.keys); n > MaxSearchKeys {
		return nil, Invalidf("the entry would be indexed under %d search keys; this log indexes an entry under at most %d", n, MaxSearchKeys)
	}
	return s.keys, nil
}

// SearchKeyHashes returns the hashes of keys, in order.
func SearchKeyHashes(keys []SearchKey) [][32]byte {
	if len(keys) == 0 {
		return nil
	}
	out := make([][32]byte, len(keys))
	for i, k := range keys {
		out[i] = k.Hash()
	}
	return out
}
