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
// body went over the gateway's limit, or 408 if the client took longer
// than the gateway allows to send it, and reports whether it answered.
// Handlers call it first when a body read fails:
//
//	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
//		if gateway.WriteBodyError(w, err) {
//			return
//		}
//		gateway.WriteError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
//		return
//	}
func WriteBodyError(w http.ResponseWriter, err error) bool {
	status, msg, ok := describeBodyError(err)
	if !ok {
		return false
	}
	if status == http.StatusRequestTimeout {
		// The rest of the body may still be on its way: the connection
		// cannot carry another request.
		w.Header().Set("Connection", "close")
	}
	WriteError(w, status, msg)
	return true
}

// describeBodyError names the status and message for a body the gateway's
// limits stopped, and reports false for any other error. The JSON-RPC edge
// answers with the same words.
func describeBodyError(err error) (status int, msg string, ok bool) {
	var (
		tooLarge *http.MaxBytesError
		tooSlow  *BodyTimeoutError
	)
	switch {
	case errors.As(err, &tooLarge):
		// The body's full size is unknown: reading stopped at the limit.
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: it exceeds the limit of %d bytes", tooLarge.Limit), true
	case errors.As(err, &tooSlow):
		return http.StatusRequestTimeout, tooSlow.Error(), true
	}
	return 0, "", false
}
