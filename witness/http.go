package witness

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tabularium/tabula/storage"
)

// RequestTimeout bounds the work of one request (the store's calls).
const RequestTimeout = 10 * time.Second

// Handler serves the witness, mounted at the root:
//
//   - POST /add-checkpoint: c2sp.org/tlog-witness. 200 with the cosignature
//     line(s); 400, 403, 404, 409 (text/x.tlog.size, "<size>\n"), 422 as
//     the spec says, with a text/plain reason; 413 for a body over
//     MaxBodySize; 500 only when the store fails.
//   - GET /<lowercase hex SHA-256(origin)>/checkpoint: the newest cosigned
//     checkpoint of a configured log (its signature and this witness's
//     cosignature), text/plain; 404 if none.
//
// Other methods on those paths get 405.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.serveAdd)
	mux.HandleFunc("GET /{hash}/checkpoint", w.serveLatest)
	return mux
}

func (w *Witness) serveAdd(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
	defer cancel()
	origin := "unknown"
	code := w.add(ctx, rw, r, &origin)
	w.metrics.requests.WithLabelValues(origin, strconv.Itoa(code)).Inc()
}

// add answers one add-checkpoint request and returns its status code;
// *origin is set to the request's log origin when it is a configured one.
func (w *Witness) add(ctx context.Context, rw http.ResponseWriter, r *http.Request, origin *string) int {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return textError(rw, http.StatusRequestEntityTooLarge, "request body larger than 64 KiB")
		}
		return textError(rw, http.StatusBadRequest, "reading the request body failed")
	}
	old, proof, signed, err := ParseAddCheckpoint(body)
	if err != nil {
		return textError(rw, http.StatusBadRequest, "malformed request: "+err.Error())
	}
	if o, _, ok := cutLine(signed); ok {
		if _, known := w.logs[o]; known {
			*origin = o
		}
	}
	lines, err := w.AddCheckpoint(ctx, old, proof, signed)
	var e *Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusConflict:
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(rw, strconv.FormatUint(e.Size, 10)+"\n")
		return http.StatusConflict
	case errors.As(err, &e):
		return textError(rw, e.Status, e.Msg)
	case err != nil:
		w.logger.Error("witness: add-checkpoint failed", "origin", *origin, "err", err)
		return textError(rw, http.StatusInternalServerError, "internal error")
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.WriteHeader(http.StatusOK)
	_, _ = rw.Write(lines)
	return http.StatusOK
}

func (w *Witness) serveLatest(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
	defer cancel()
	origin, ok := w.byHash[r.PathValue("hash")]
	if !ok {
		textError(rw, http.StatusNotFound, "unknown log")
		return
	}
	b, err := w.Latest(ctx, origin)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		textError(rw, http.StatusNotFound, "no checkpoint cosigned yet")
		return
	case err != nil:
		w.logger.Error("witness: reading the latest checkpoint failed", "origin", origin, "err", err)
		textError(rw, http.StatusInternalServerError, "internal error")
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = rw.Write(b)
}

func textError(rw http.ResponseWriter, code int, msg string) int {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(code)
	_, _ = io.WriteString(rw, msg+"\n")
	return code
}

func cutLine(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", b, false
}
