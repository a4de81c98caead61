package merkle

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MaxBundleEntry is the largest entry a C2SP entry bundle can hold, in
// bytes: each entry is prefixed with its length as a uint16. A log whose
// entries are served as bundles must refuse larger entries.
const MaxBundleEntry = math.MaxUint16

// AppendBundleEntry appends entry to the entry bundle dst as a big-endian
// uint16 length followed by the entry bytes. Entries longer than
// MaxBundleEntry bytes cannot be bundled.
func AppendBundleEntry(dst, entry []byte) ([]byte, error) {
	if len(entry) > MaxBundleEntry {
		return dst, fmt.Errorf("merkle: bundle entry of %d bytes exceeds %d", len(entry), MaxBundleEntry)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(entry)))
	return append(dst, entry...), nil
}

// ParseBundle splits an entry bundle into its entries. A bundle holds at most
// 256 entries; an empty bundle holds none. The entries alias b, with their
// capacity capped so appending to one cannot overwrite the next.
func ParseBundle(b []byte) ([][]byte, error) {
	var entries [][]byte
	for len(b) > 0 {
		if len(entries) == TileWidth {
			return nil, fmt.Errorf("merkle: bundle holds more than %d entries", TileWidth)
		}
		if len(b) < 2 {
			return nil, fmt.Errorf("merkle: bundle entry %d: truncated length", len(entries))
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < n {
			return nil, fmt.Errorf("merkle: bundle entry %d: length %d but %d bytes left", len(entries), n, len(b))
		}
		entries = append(entries, b[:n:n])
		b = b[n:]
	}
	return entries, nil
}
