// Package a2aevent holds what the gateway's A2A face and its A2A client
// both need to know of a2a-go v2's events.
package a2aevent

import "github.com/a2aproject/a2a-go/v2/a2a"

// Last reports whether a streamed event ends the stream: a message, or a
// task (or its status) that ended or waits for input.
func Last(payload any) bool {
	var state a2a.TaskState
	switch p := payload.(type) {
	case *a2a.Message:
		return true
	case *a2a.Task:
		if p == nil {
			return false
		}
		state = p.Status.State
	case *a2a.TaskStatusUpdateEvent:
		if p == nil {
			return false
		}
		state = p.Status.State
	default:
		return false
	}
	return state.Terminal() || state == a2a.TaskStateInputRequired || state == a2a.TaskStateAuthRequired
}

// Streaming reports whether an A2A method (by its a2a-go name) answers
// with a stream of events.
func Streaming(method string) bool {
	return method == "SendStreamingMessage" || method == "SubscribeToTask"
}
