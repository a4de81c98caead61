package api

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// The LogEntry answer (POST 201, GET by index or UUID, POST retrieve) has a
// fixed shape, and it is the hottest answer the server writes: it is encoded
// here by hand, byte for byte as encoding/json encodes models.LogEntry
// (field order, omitempty, HTML-safe string escaping, strfmt.Base64 as
// standard base64), which a test checks against json.Marshal.

// entryAnswer is one entry of a LogEntry answer: the encoder of the log
// (shard) holding it, the stored entry (its Index is the log's own), the
// head its inclusion proof is against, and the proof.
type entryAnswer struct {
	enc   *encoder
	e     storage.Entry
	head  storage.TreeState
	proof []merkle.Hash
}

// headJSON holds the parts of an inclusion proof's JSON that depend only on
// the head, encoded once per head: the checkpoint is the one string that
// needs escaping (newlines, the em dash of its signature lines).
type headJSON struct {
	size uint64
	root merkle.Hash
	cp   []byte
	pre  []byte // {"checkpoint":"…","hashes":[
	post []byte // ,"rootHash":"…","treeSize":N}
}

// encoder encodes the LogEntry answers of one log of the set (a shard):
// its EntryID prefix and logID, the virtual index of its first entry, and
// the encoded parts of its last head.
type encoder struct {
	idPrefix string // the tree ID as 16 hex digits, the EntryID's prefix
	logID    string // `"logID":"<hex>",`
	start    uint64 // the log's StartIndex: entry i has virtual index start+i
	head     atomic.Pointer[headJSON]
}

func newEncoder(treeID int64, logID [32]byte, start uint64) *encoder {
	return &encoder{
		idPrefix: hex.EncodeToString(be64(uint64(treeID))),
		logID:    `"logID":"` + hex.EncodeToString(logID[:]) + `",`,
		start:    start,
	}
}

// encoders holds one encoder per log of the set, by tree ID (what an
// encoder holds never changes for a log), and the pool of answer buffers.
type encoders struct {
	mu     sync.RWMutex
	byTree map[int64]*encoder
	bufs   sync.Pool
}

func newEncoders() *encoders {
	return &encoders{
		byTree: map[int64]*encoder{},
		bufs:   sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }},
	}
}

// of returns the encoder of sh.
func (c *encoders) of(sh *logset.Shard) *encoder {
	id := sh.TreeID()
	c.mu.RLock()
	e := c.byTree[id]
	c.mu.RUnlock()
	if e != nil {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e = c.byTree[id]; e == nil {
		e = newEncoder(id, sh.Log.LogID(), sh.Info.StartIndex)
		c.byTree[id] = e
	}
	return e
}

func be64(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// appendEntryID appends Rekor's EntryID: the tree ID as 16 zero-padded hex
// digits followed by the 64-hex leaf hash.
func (c *encoder) appendEntryID(b []byte, leafHash merkle.Hash) []byte {
	b = append(b, c.idPrefix...)
	return hex.AppendEncode(b, leafHash[:])
}

// headParts returns the head's encoded parts, reusing the last ones when the
// head is the same.
func (c *encoder) headParts(head storage.TreeState) *headJSON {
	if h := c.head.Load(); h != nil && h.size == head.Size && h.root == head.Root && bytes.Equal(h.cp, head.Checkpoint) {
		return h
	}
	h := &headJSON{size: head.Size, root: head.Root, cp: head.Checkpoint}
	h.pre = append(h.pre, `{"checkpoint":`...)
	h.pre = appendJSONString(h.pre, string(head.Checkpoint))
	h.pre = append(h.pre, `,"hashes":[`...)
	h.post = append(h.post, `,"rootHash":"`...)
	h.post = hex.AppendEncode(h.post, head.Root[:])
	h.post = append(h.post, `","treeSize":`...)
	h.post = strconv.AppendInt(h.post, int64(head.Size), 10)
	h.post = append(h.post, '}')
	c.head.Store(h)
	return h
}

// appendEntry appends {"<EntryID>":{…}}, as json.Marshal encodes a
// models.LogEntry with one key. The top-level logIndex is the entry's
// virtual index; the inclusion proof's is its index in its log.
func appendEntry(b []byte, a *entryAnswer) []byte {
	c := a.enc
	b = append(b, `{"`...)
	b = c.appendEntryID(b, a.e.LeafHash)
	b = append(b, `":{`...)
	if len(a.e.Attestation) > 0 {
		b = append(b, `"attestation":{"data":"`...)
		b = base64.StdEncoding.AppendEncode(b, a.e.Attestation)
		b = append(b, `"},`...)
	}
	b = append(b, `"body":"`...)
	b = base64.StdEncoding.AppendEncode(b, a.e.Body)
	b = append(b, `","integratedTime":`...)
	b = strconv.AppendInt(b, a.e.IntegratedTime, 10)
	b = append(b, ',')
	b = append(b, c.logID...)
	b = append(b, `"logIndex":`...)
	b = strconv.AppendInt(b, int64(c.start+a.e.Index), 10)
	b = append(b, `,"verification":{"inclusionProof":`...)
	h := c.headParts(a.head)
	b = append(b, h.pre...)
	for i := range a.proof {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = hex.AppendEncode(b, a.proof[i][:])
		b = append(b, '"')
	}
	b = append(b, `],"logIndex":`...)
	b = strconv.AppendInt(b, int64(a.e.Index), 10)
	b = append(b, h.post...)
	if len(a.e.SET) > 0 {
		b = append(b, `,"signedEntryTimestamp":"`...)
		b = base64.StdEncoding.AppendEncode(b, a.e.SET)
		b = append(b, '"')
	}
	return append(b, `}}}`...)
}

// appendEntries appends a JSON array of LogEntry answers.
func appendEntries(b []byte, as []entryAnswer) []byte {
	b = append(b, '[')
	for i := range as {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEntry(b, &as[i])
	}
	return append(b, ']')
}

// appendConsistencyProof appends the ConsistencyProof answer, as json.Marshal
// encodes models.ConsistencyProof.
func appendConsistencyProof(b []byte, proof []merkle.Hash, root merkle.Hash) []byte {
	b = append(b, `{"hashes":[`...)
	for i := range proof {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = hex.AppendEncode(b, proof[i][:])
		b = append(b, '"')
	}
	b = append(b, `],"rootHash":"`...)
	b = hex.AppendEncode(b, root[:])
	return append(b, `"}`...)
}

// write writes a JSON answer built by fill into a pooled buffer, as
// writeJSON does (Content-Type, status, body, newline). It also sets
// Content-Length: net/http would otherwise send an answer over 2 KiB
// chunked, a larger write and often one more syscall.
func (c *encoders) write(w http.ResponseWriter, code int, fill func([]byte) []byte) {
	p := c.bufs.Get().(*[]byte)
	b := append(fill((*p)[:0]), '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
	if cap(b) <= 1<<20 { // do not keep the buffer of a huge answer
		*p = b[:0]
		c.bufs.Put(p)
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// encodes a string: HTML-safe (<, >, & escaped), control characters
// escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
