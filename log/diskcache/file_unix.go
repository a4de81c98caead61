//go:build unix

package diskcache

import (
	"io"
	"io/fs"
	"syscall"
)

// file is a cache file open for reading: the bare descriptor, since a read
// opens, reads and closes it, and an os.File's set-up (its finalizer, its
// poller check) costs as much as the reads.
type file int

func openFile(path string) (file, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return file(fd), pathError("open", path, err)
		}
	}
}

// readAt fills b from offset off; a file too short is io.ErrUnexpectedEOF.
func (f file) readAt(b []byte, off int64) error {
	for len(b) > 0 {
		n, err := syscall.Pread(int(f), b, off)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return io.ErrUnexpectedEOF
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

func (f file) close() { _ = syscall.Close(int(f)) }

// pathError is err (nil for none) as os.Open reports it, so that a missing
// file is fs.ErrNotExist.
func pathError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}
