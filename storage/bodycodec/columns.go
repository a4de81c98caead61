package bodycodec

import (
	"fmt"

	"github.com/tabularium/tabula/storage"
)

// EncodeEntries sets every entry's Stored to its encoded Body, spread over
// the CPUs as EncodeBatch does: what a caller runs ahead of a driver's
// Append so that the encoding is off the append's path.
func (c *Codec) EncodeEntries(entries []storage.Entry) {
	bodies := make([][]byte, len(entries))
	for i := range entries {
		bodies[i] = entries[i].Body
	}
	stored, formats := c.EncodeBatch(bodies)
	for i := range entries {
		entries[i].Stored = &storage.StoredBody{Data: stored[i], Format: int16(formats[i])}
	}
}

// EncodeColumns is what the entries rows of both drivers store for the
// entries' bodies: the bytes for the body column and the body_format
// column's values, nil (NULL) for a raw body (see the migrations'
// 00006_body_format.sql). An entry's Stored, when set, is used as it is;
// the other bodies are encoded here.
func (c *Codec) EncodeColumns(entries []storage.Entry) ([][]byte, []*int16) {
	var todo [][]byte
	var at []int
	for i := range entries {
		if entries[i].Stored == nil {
			todo = append(todo, entries[i].Body)
			at = append(at, i)
		}
	}
	encoded, encodedFormats := c.EncodeBatch(todo)
	stored := make([][]byte, len(entries))
	formats := make([]Format, len(entries))
	for i := range entries {
		if s := entries[i].Stored; s != nil {
			stored[i], formats[i] = s.Data, Format(s.Format)
		}
	}
	for j, i := range at {
		stored[i], formats[i] = encoded[j], encodedFormats[j]
	}
	column := make([]*int16, len(entries))
	for i, f := range formats {
		if f != Raw {
			v := int16(f)
			column[i] = &v
		}
	}
	return stored, column
}

// DecodeColumn is the body an entries row holds as stored in format (nil,
// NULL: raw).
func (c *Codec) DecodeColumn(stored []byte, format *int16) ([]byte, error) {
	if format == nil {
		return stored, nil
	}
	body, err := c.Decode(stored, Format(*format))
	if err != nil {
		return nil, fmt.Errorf("entry body: %w", err)
	}
	return body, nil
}
