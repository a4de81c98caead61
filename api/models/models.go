// Package models holds the JSON shapes of the Rekor v1 API, shared by the
// server (api/) and the Go client. Field order and names follow Rekor's
// openapi.yaml, so responses are byte-compatible with what clients expect;
// base64 fields use strfmt.Base64, the spec's "format: byte".
package models

import (
	"encoding/json"

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
