//go:build !unix

package diskcache

import (
	"io"
	"os"
)

// file is a cache file open for reading.
type file struct{ f *os.File }

func openFile(path string) (file, error) {
	f, err := os.Open(path)
	return file{f}, err
}

// readAt fills b from offset off; a file too short is io.ErrUnexpectedEOF.
func (f file) readAt(b []byte, off int64) error {
	_, err := f.f.ReadAt(b, off)
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (f file) close() { _ = f.f.Close() }
