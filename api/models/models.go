// Package models holds the JSON shapes of the Rekor v1 API, and of
// Tabula's own GET /logs and POST /logs/search, shared by the server (api/)
// and the Go client. Field order and names follow Rekor's
// openapi.yaml, so responses are byte-compatible with what clients expect;
// base64 fields use strfmt.Base64, the spec's "format: byte".
package models

import (
	"encoding/json"
	"time"

	"github.com/go-openapi/strfmt"
)

// Error is every error body: {"code":…,"message":…}.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// LogEntry maps an entry UUID (80 hex: tree ID + leaf hash) to the entry.
// Responses always hold exactly one key.
type LogEntry map[string]LogEntryAnon

// LogEntryAnon is one logged entry with its proofs.
type LogEntryAnon struct {
	Attestation    *LogEntryAttestation `json:"attestation,omitempty"`
	Body           strfmt.Base64        `json:"body"`
	IntegratedTime int64                `json:"integratedTime"`
	LogID          string               `json:"logID"`
	LogIndex       int64                `json:"logIndex"`
	Verification   *Verification        `json:"verification,omitempty"`
}

// LogEntryAttestation is attestation data stored beside an entry.
type LogEntryAttestation struct {
	Data strfmt.Base64 `json:"data,omitempty"`
}

// Verification carries the inclusion proof and the signed entry timestamp.
type Verification struct {
	InclusionProof       *InclusionProof `json:"inclusionProof,omitempty"`
	SignedEntryTimestamp strfmt.Base64   `json:"signedEntryTimestamp,omitempty"`
}

// InclusionProof proves an entry is in the tree of TreeSize with RootHash,
// which Checkpoint signs. Hashes are lower-case hex, leaf to root.
type InclusionProof struct {
	Checkpoint string   `json:"checkpoint"`
	Hashes     []string `json:"hashes"`
	LogIndex   int64    `json:"logIndex"`
	RootHash   string   `json:"rootHash"`
	TreeSize   int64    `json:"treeSize"`
}

// LogInfo is GET /api/v1/log.
type LogInfo struct {
	InactiveShards []*InactiveShardLogInfo `json:"inactiveShards"`
	RootHash       string                  `json:"rootHash"`
	SignedTreeHead string                  `json:"signedTreeHead"`
	TreeID         string                  `json:"treeID"`
	TreeSize       int64                   `json:"treeSize"`
}

// InactiveShardLogInfo describes a frozen shard.
type InactiveShardLogInfo struct {
	RootHash       string `json:"rootHash"`
	SignedTreeHead string `json:"signedTreeHead"`
	TreeID         string `json:"treeID"`
	TreeSize       int64  `json:"treeSize"`
}

// ConsistencyProof is GET /api/v1/log/proof.
type ConsistencyProof struct {
	Hashes   []string `json:"hashes"`
	RootHash string   `json:"rootHash"`
}

// SearchLogQuery is POST /api/v1/log/entries/retrieve.
type SearchLogQuery struct {
	EntryUUIDs []string          `json:"entryUUIDs,omitempty"`
	LogIndexes []*int64          `json:"logIndexes,omitempty"`
	Entries    []json.RawMessage `json:"entries,omitempty"`
}

// SearchIndex is POST /api/v1/index/retrieve.
type SearchIndex struct {
	Email     strfmt.Email          `json:"email,omitempty"`
	Hash      string                `json:"hash,omitempty"`
	PublicKey *SearchIndexPublicKey `json:"publicKey,omitempty"`
	Subject   string                `json:"subject,omitempty"`
	Operator  string                `json:"operator,omitempty"`
}

// SearchIndexPublicKey is a public key to search by.
type SearchIndexPublicKey struct {
	Format  string        `json:"format"`
	Content strfmt.Base64 `json:"content,omitempty"`
}

// LogDescription is one log of GET /logs (Tabula's own document; Rekor has
// none): what a client needs to trust and read it. Nothing in it is
// checked by the client that reads it: the key ID, for one, is the
// server's word until recomputed from PublicKey.
type LogDescription struct {
	TreeID string `json:"treeID"`
	// API is the protocol the log speaks: "v1" (Rekor v1) or "v2" (Rekor v2).
	API    string `json:"api"`
	Origin string `json:"origin"`
	// State is "active" or "frozen".
	State string `json:"state"`
	// StartIndex is the virtual index of the log's first entry (Rekor v1's
	// shards); Rekor v2 logs have none.
	StartIndex *uint64 `json:"startIndex,omitempty"`
	TreeSize   uint64  `json:"treeSize"`
	Checkpoint string  `json:"checkpoint"`
	// PublicKey is the DER SubjectPublicKeyInfo (base64 in JSON), KeyID the
	// 32-byte key ID of its checkpoints (Rekor v1: the log ID; Rekor v2:
	// the C2SP key ID), KeyName the key name of their signature line.
	PublicKey []byte    `json:"publicKey"`
	KeyID     []byte    `json:"keyID"`
	KeyName   string    `json:"keyName"`
	CreatedAt time.Time `json:"createdAt"`
}

// Logs is the answer of GET /logs.
type Logs struct {
	Logs []LogDescription `json:"logs"`
}

// FoundEntry is one answer of POST /logs/search (Tabula's).
type FoundEntry struct {
	TreeID string `json:"treeID"`
	// API is "v1" (Rekor v1) or "v2" (Rekor v2).
	API string `json:"api"`
	// Index is the entry's index in its log (a Rekor v1 entry's virtual
	// index is its log's startIndex + Index).
	Index uint64 `json:"index"`
	// UUID is the tree ID (16 hex digits) and the leaf hash, as Rekor v1's
	// entry IDs.
	UUID string `json:"uuid"`
}

// LogEntryAt is the answer of GET /logs/{treeID}/entries/{index}
// (Tabula's): one entry of any log of the server, Rekor v1 or v2, frozen
// ones included, with an inclusion proof against the log's latest
// checkpoint (signed by the log alone). The explorer's proof panel checks
// it in the browser.
type LogEntryAt struct {
	TreeID string `json:"treeID"`
	Origin string `json:"origin"`
	// Index is the entry's index in its log.
	Index uint64 `json:"index"`
	// VirtualIndex is Rekor v1's logIndex across the shards (v1 only).
	VirtualIndex *uint64 `json:"virtualIndex,omitempty"`
	// API is "v1" (Rekor v1) or "v2" (Rekor v2).
	API string `json:"api"`
	// UUID is Rekor v1's 80-hex entry ID (tree ID and leaf hash), or the
	// 64-hex leaf hash for a Rekor v2 entry.
	UUID string `json:"uuid"`
	// Body is the leaf value (the canonical entry), LeafHash its RFC 6962
	// leaf hash SHA-256(0x00 || Body) in hex.
	Body     []byte `json:"body"`
	LeafHash string `json:"leafHash"`
	// IntegratedTime is when the entry was integrated, Unix seconds (v1
	// only: Rekor v2 entries have none).
	IntegratedTime *int64                   `json:"integratedTime,omitempty"`
	InclusionProof LogEntryAtInclusionProof `json:"inclusionProof"`
}

// LogEntryAtInclusionProof proves a LogEntryAt is in the tree of TreeSize
// with RootHash (hex), which Checkpoint (a signed note) signs. Hashes are
// lower-case hex, leaf to root.
type LogEntryAtInclusionProof struct {
	TreeSize   uint64   `json:"treeSize"`
	RootHash   string   `json:"rootHash"`
	Hashes     []string `json:"hashes"`
	Checkpoint string   `json:"checkpoint"`
}
