package log

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
)

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
