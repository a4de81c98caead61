package pki

import (
	"bytes"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
)

// MaxCachedPEM is the largest PEM text a KeyCache keeps (a Fulcio leaf is
// about 1 KB, a chain of three a few KB); longer keys are parsed every time,
// so the cache's memory stays bounded by its size times this.
const MaxCachedPEM = 8 << 10

// KeyCache remembers parsed keys by their exact PEM bytes, so that a signer
// who logs again skips the PEM, X.509 and re-encoding work. Only the parse is
// cached: a cached Key is the same value ParsePEM returns for those bytes
// (with its CanonicalPEM computed once), and everything that verifies
// (VerifyDigest, VerifyChain) still runs on every use. Failures are not
// cached. A KeyCache is bounded (least recently used keys are dropped) and
// safe for concurrent use; a nil *KeyCache parses every time.
type KeyCache struct {
	keys *lru.Cache[string, *Key]
}

// NewKeyCache returns a cache of at most size keys.
func NewKeyCache(size int) (*KeyCache, error) {
	c, err := lru.New[string, *Key](size)
	if err != nil {
		return nil, fmt.Errorf("pki: key cache: %w", err)
	}
	return &KeyCache{keys: c}, nil
}

// ParsePEM is ParsePEM through the cache: the same key, or the same error,
// for the same bytes.
func (c *KeyCache) ParsePEM(b []byte) (*Key, error) {
	if c == nil || len(b) > MaxCachedPEM {
		return ParsePEM(b)
	}
	if k, ok := c.keys.Get(string(b)); ok {
		return k, nil
	}
	k, err := ParsePEM(b)
	if err != nil {
		return nil, err
	}
	canonical, err := k.CanonicalPEM()
	if err != nil {
		// Not reachable for a parsed key; serve it uncached.
		return k, nil
	}
	k.canonical = canonical
	c.keys.Add(string(b), k)
	return k, nil
}

// Len is the number of cached keys.
func (c *KeyCache) Len() int {
	if c == nil {
		return 0
	}
	return c.keys.Len()
}

// cachedCanonicalPEM is a copy of the canonical PEM a KeyCache computed, or
// nil when there is none.
func (k *Key) cachedCanonicalPEM() []byte {
	if k.canonical == nil {
		return nil
	}
	return bytes.Clone(k.canonical)
}
