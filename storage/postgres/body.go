package postgres

import (
	"fmt"

	"github.com/tabularium/tabula/storage/bodycodec"
)

// encodeBody is what the entries row stores for body: the bytes for the
// body column and the body_format column's value (nil, NULL, for a raw
// body; see migrations/postgres/00006_body_format.sql).
func encodeBody(c *bodycodec.Codec, body []byte) ([]byte, *int16) {
	stored, f := c.Encode(body)
	if f == bodycodec.Raw {
		return stored, nil
	}
	v := int16(f)
	return stored, &v
}

// decodeBody is the body an entries row holds as stored in format.
func decodeBody(c *bodycodec.Codec, stored []byte, format *int16) ([]byte, error) {
	if format == nil {
		return stored, nil
	}
	body, err := c.Decode(stored, bodycodec.Format(*format))
	if err != nil {
		return nil, fmt.Errorf("entry body: %w", err)
	}
	return body, nil
}
