package bodycodec

import (
	"fmt"

	"github.com/tabularium/tabula/storage"
)

// EncodeColumns is what the entries rows of both drivers store for the
// entries' bodies: the bytes for the body column and the body_format
// column's values, nil (NULL) for a raw body (see the migrations'
// 00006_body_format.sql).
func (c *Codec) EncodeColumns(entries []storage.Entry) ([][]byte, []*int16) {
	bodies := make([][]byte, len(entries))
	for i := range entries {
		bodies[i] = entries[i].Body
	}
	stored, formats := c.EncodeBatch(bodies)
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
