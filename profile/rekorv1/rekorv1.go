// Package rekorv1 is the Rekor v1 profile of a log: checkpoints with origin
// "<hostname> - <treeID>", signed under the key name <hostname> with the
// first four bytes of the log ID as key hint, and a signed entry timestamp
// (SET) on every entry, exactly as Rekor v1 signs them.
package rekorv1

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/signer"
)

// Name is the profile's name.
const Name = "rekor-v1"

// Profile is the Rekor v1 profile of the first (or only) log served as
// hostname: ShardProfile(hostname, 0).
func Profile(hostname string) log.Profile { return ShardProfile(hostname, 0) }

// ShardProfile is the Rekor v1 profile of a log (a shard, in Rekor's words)
// served as hostname whose first entry has virtual index start: the
// checkpoint origin is Origin(hostname, treeID), the signature's key name is
// hostname, and each entry's SET signs its virtual index, start + its index
// in the log, as Rekor signs entries of a sharded log.
func ShardProfile(hostname string, start uint64) log.Profile {
	sign := SignEntry
	if start != 0 {
		sign = func(s signer.Signer, body []byte, integratedTime int64, logID [32]byte, index uint64) ([]byte, error) {
			return SignEntry(s, body, integratedTime, logID, start+index)
		}
	}
	return log.Profile{
		Name:      Name,
		Origin:    func(treeID int64) string { return Origin(hostname, treeID) },
		KeyName:   hostname,
		KeyIDForm: checkpoint.KeyIDRekorV1,
		SignEntry: sign,
	}
}

// Origin is the Rekor v1 checkpoint origin "<hostname> - <treeID>".
func Origin(hostname string, treeID int64) string {
	return fmt.Sprintf("%s - %d", hostname, treeID)
}

// Hostname is the hostname of a Rekor v1 origin "<hostname> - <treeID>",
// or "" if origin is not of that form.
func Hostname(origin string) string {
	i := strings.LastIndex(origin, " - ")
	if i <= 0 {
		return ""
	}
	if _, err := strconv.ParseInt(origin[i+3:], 10, 64); err != nil {
		return ""
	}
	return origin[:i]
}

// SignEntry signs an entry's SET: s's signature over SETPayload.
func SignEntry(s signer.Signer, body []byte, integratedTime int64, logID [32]byte, index uint64) ([]byte, error) {
	return s.SignMessage(SETPayload(body, integratedTime, logID, index))
}

// SETPayload is the message a signed entry timestamp signs: the RFC 8785
// canonical JSON of {body, integratedTime, logID, logIndex}, with body in
// standard base64 and logID in lower-case hex, exactly as Rekor v1 signs it.
// The values need no escaping and the keys are already in canonical order,
// so the canonical form is written directly.
func SETPayload(body []byte, integratedTime int64, logID [32]byte, logIndex uint64) []byte {
	b64 := base64.StdEncoding.EncodedLen(len(body))
	out := make([]byte, 0, b64+160)
	out = append(out, `{"body":"`...)
	out = base64.StdEncoding.AppendEncode(out, body)
	out = append(out, `","integratedTime":`...)
	out = strconv.AppendInt(out, integratedTime, 10)
	out = append(out, `,"logID":"`...)
	out = hex.AppendEncode(out, logID[:])
	out = append(out, `","logIndex":`...)
	out = strconv.AppendUint(out, logIndex, 10)
	out = append(out, '}')
	return out
}
