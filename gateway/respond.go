package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/parleyhq/parley/api"
)

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a programming error (an unencodable type) gets here; say
		// so rather than send half a document.
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal server error: cannot encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A failed write means the client has gone; there is no one to tell.
	_, _ = w.Write(append(body, '\n'))
}

// WriteError writes {"error": msg} with the given status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, api.Error{Error: msg})
}

// WriteBodyError answers 413 if err (from reading a request body) says the
// body went over the gateway's limit, and reports whether it did. Handlers
// call it first when a body read fails:
//
//	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
//		if gateway.WriteBodyError(w, err) {
//			return
//		}
//		gateway.WriteError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
//		return
//	}
func WriteBodyError(w http.ResponseWriter, err error) bool {
	var tooLarge *http.MaxBytesError
	if !errors.As(err, &tooLarge) {
		return false
	}
	// The body's full size is unknown: reading stopped at the limit.
	WriteError(w, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("request body too large: it exceeds the limit of %d bytes", tooLarge.Limit))
	return true
}
