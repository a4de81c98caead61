package api

import (
	"errors"
	"net/http"

	"github.com/tabularium/tabula/tsa"
)

// Outcomes of a timestamp request, the result label of
// tabula_tsa_timestamps_total.
const (
	tsaIssued  = "issued"
	tsaRefused = "refused"
	tsaFailed  = "failed"
)

// timestamp serves POST /api/v1/timestamp as sigstore/timestamp-authority
// does: a DER TimeStampReq (or its JSON form) in, a DER TimeStampResp out
// with status 200. Errors keep its {"code","message"} body and statuses
// (400, and 415 for a content type it does not consume), with the cause
// after its message, served as application/json (timestamp-authority
// labels them application/timestamp-reply). Bodies are limited to
// tsa.MaxRequestBody (413 beyond, Tabula's limit answer; timestamp-authority
// says 400).
func (s *Server) timestamp(w http.ResponseWriter, r *http.Request) {
	limit := min(s.maxBody, tsa.MaxRequestBody)
	body, ok := s.readBodyLimit(w, r, limit)
	if !ok {
		s.metrics.timestamps.WithLabelValues(tsaRefused).Inc()
		return
	}
	req, err := s.tsa.ParseRequest(r.Header.Get("Content-Type"), body)
	if err != nil {
		s.metrics.timestamps.WithLabelValues(tsaRefused).Inc()
		var re *tsa.RequestError
		if errors.As(err, &re) {
			writeError(w, re.Status, re.Error())
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, err := s.tsa.Respond(req)
	if err != nil {
		// A local key does not fail to sign; if it ever does, the request
		// may be retried.
		s.metrics.timestamps.WithLabelValues(tsaFailed).Inc()
		s.logger.Error("signing a timestamp", "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "Error generating timestamp response: "+err.Error())
		return
	}
	s.metrics.timestamps.WithLabelValues(tsaIssued).Inc()
	w.Header().Set("Content-Type", tsa.ReplyContentType)
	_, _ = w.Write(resp)
}

// timestampCertChain serves GET /api/v1/timestamp/certchain: the PEM chain,
// signing certificate first, cached for a day as timestamp-authority does.
func (s *Server) timestampCertChain(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", tsa.ChainContentType)
	w.Header().Set("Cache-Control", "max-age=86400, immutable")
	_, _ = w.Write(s.tsa.ChainPEM())
}
