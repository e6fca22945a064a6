package a2aevent

import (
	"testing"

	"github.com/a2aproject/a2a-go/v2/a2a"
)

func TestLast(t *testing.T) {
	task := func(s a2a.TaskState) *a2a.Task { return &a2a.Task{Status: a2a.TaskStatus{State: s}} }
	status := func(s a2a.TaskState) *a2a.TaskStatusUpdateEvent {
		return &a2a.TaskStatusUpdateEvent{Status: a2a.TaskStatus{State: s}}
	}
	tests := []struct {
		name    string
		payload any
		want    bool
	}{
		{"a message", &a2a.Message{}, true},
		{"a completed task", task(a2a.TaskStateCompleted), true},
		{"a working task", task(a2a.TaskStateWorking), false},
		{"a task waiting for input", task(a2a.TaskStateInputRequired), true},
		{"a failed status", status(a2a.TaskStateFailed), true},
		{"an auth-required status", status(a2a.TaskStateAuthRequired), true},
		{"a working status", status(a2a.TaskStateWorking), false},
		{"an artifact", &a2a.TaskArtifactUpdateEvent{}, false},
		{"a nil task", (*a2a.Task)(nil), false},
		{"nothing", nil, false},
	}
	for _, tt := range tests {
		if got := Last(tt.payload); got != tt.want {
			t.Errorf("Last(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestStreaming(t *testing.T) {
	for method, want := range map[string]bool{
		"SendStreamingMessage": true,
		"SubscribeToTask":      true,
		"SendMessage":          false,
		"GetTask":              false,
		"":                     false,
	} {
		if got := Streaming(method); got != want {
			t.Errorf("Streaming(%q) = %v, want %v", method, got, want)
		}
	}
}
