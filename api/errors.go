package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tabularium/tabula/api/models"
)

// writeError writes Rekor's error shape.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, models.Error{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"code":500,"message":"encoding response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

func contextWithTimeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}
