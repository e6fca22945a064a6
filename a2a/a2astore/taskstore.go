package a2astore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/taskstore"

	"github.com/parleyhq/parley/store"
)

// TaskStoreOptions tune a TaskStore. The zero value is usable.
type TaskStoreOptions struct {
	// Owner names who a call acts for: the owner recorded on the tasks it
	// creates, and whose tasks it may read. Default CallerOf.
	Owner func(context.Context) string
	// IsAdmin reports whether a call may read and list every task, not
	// only its owner's. Default: nobody.
	IsAdmin func(context.Context) bool
	// Now stamps writes (the tasks' update times, which ListTasks orders
	// and filters by). Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// TaskStore is the SDK's taskstore.Store over store.A2ATasks. Each write
// logs the event that caused it, which Events serves to the replicas
// streaming the task.
type TaskStore struct {
	st   store.A2ATasks
	opts TaskStoreOptions
}

var _ taskstore.Store = (*TaskStore)(nil)

// NewTaskStore returns a TaskStore over st.
func NewTaskStore(st store.A2ATasks, opts TaskStoreOptions) *TaskStore {
	if opts.Owner == nil {
		opts.Owner = CallerOf
	}
	if opts.IsAdmin == nil {
		opts.IsAdmin = func(context.Context) bool { return false }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &TaskStore{st: st, opts: opts}
}

// errInternal is what callers are told of a store failure; the detail is
// logged.
var errInternal = fmt.Errorf("the task store failed: %w", a2a.ErrInternalError)

func (s *TaskStore) internal(ctx context.Context, op string, err error) error {
	s.opts.Logger.ErrorContext(ctx, "a2a task store", "op", op, "error", err)
	return errInternal
}

// Create implements taskstore.Store. The task itself is the event logged:
// it is the first event of an execution.
func (s *TaskStore) Create(ctx context.Context, task *a2a.Task) (taskstore.TaskVersion, error) {
	if task == nil || task.ID == "" {
		return taskstore.TaskVersionMissing, fmt.Errorf("a task to create needs an ID: %w", a2a.ErrInvalidParams)
	}
	doc, event, err := encodeWrite(task, task, 1)
	if err != nil {
		return taskstore.TaskVersionMissing, err
	}
	_, err = s.st.CreateA2ATask(ctx, store.A2ATask{
		ID: string(task.ID), ContextID: task.ContextID, Caller: s.opts.Owner(ctx),
		State: string(task.Status.State), Task: doc, CreatedAt: s.opts.Now(),
	}, event)
	switch {
	case errors.Is(err, store.ErrExists):
		return taskstore.TaskVersionMissing, taskstore.ErrTaskAlreadyExists
	case err != nil:
		return taskstore.TaskVersionMissing, s.internal(ctx, "create", err)
	}
	return 1, nil
}

// Update implements taskstore.Store. It does not check the owner: the SDK
// updates a task only after loading it with Get, which does.
func (s *TaskStore) Update(ctx context.Context, req *taskstore.UpdateRequest) (taskstore.TaskVersion, error) {
	if req == nil || req.Task == nil || req.Task.ID == "" {
		return taskstore.TaskVersionMissing, fmt.Errorf("a task to update needs an ID: %w", a2a.ErrInvalidParams)
	}
	// A message is the caller's, added to the history when a task is
	// continued; the SDK does not broadcast it, and subscribers would take
	// it for a final answer, so it is not logged.
	var ev a2a.Event = req.Event
	if _, isMsg := ev.(*a2a.Message); isMsg {
		ev = nil
	}
	next := taskstore.TaskVersionMissing
	if req.PrevVersion != taskstore.TaskVersionMissing {
		next = req.PrevVersion + 1
	}
	doc, event, err := encodeWrite(req.Task, ev, next)
	if err != nil {
		return taskstore.TaskVersionMissing, err
	}
	v, err := s.st.UpdateA2ATask(ctx, store.A2ATask{
		ID: string(req.Task.ID), ContextID: req.Task.ContextID,
		State: string(req.Task.Status.State), Task: doc, UpdatedAt: s.opts.Now(),
	}, int64(req.PrevVersion), event)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return taskstore.TaskVersionMissing, a2a.ErrTaskNotFound
	case errors.Is(err, store.ErrVersionConflict):
		return taskstore.TaskVersionMissing, taskstore.ErrConcurrentModification
	case err != nil:
		return taskstore.TaskVersionMissing, s.internal(ctx, "update", err)
	}
	return taskstore.TaskVersion(v), nil
}

// encodeWrite returns the task's document and the event's log entry (nil
// for no event). The entry is an eventqueue.Message; its version is
// replaced by the stored one when read (Events), since an unconditional
// update learns its version only from the store.
func encodeWrite(task *a2a.Task, ev a2a.Event, version taskstore.TaskVersion) (doc, event []byte, err error) {
	doc, err = json.Marshal(task)
	if err != nil {
		return nil, nil, fmt.Errorf("the task cannot be stored: %w: %w", a2a.ErrInvalidParams, err)
	}
	if ev == nil {
		return doc, nil, nil
	}
	event, err = json.Marshal(eventqueue.Message{Event: ev, TaskVersion: version, Protocol: a2a.Version})
	if err != nil {
		return nil, nil, fmt.Errorf("the event cannot be stored: %w: %w", a2a.ErrInvalidParams, err)
	}
	return doc, event, nil
}

// Get implements taskstore.Store. A task of another owner is not found,
// unless the caller is an admin (the A2A spec hides others' tasks).
func (s *TaskStore) Get(ctx context.Context, taskID a2a.TaskID) (*taskstore.StoredTask, error) {
	rec, err := s.st.GetA2ATask(ctx, string(taskID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, a2a.ErrTaskNotFound
	}
	if err != nil {
		return nil, s.internal(ctx, "get", err)
	}
	if rec.Caller != s.opts.Owner(ctx) && !s.opts.IsAdmin(ctx) {
		return nil, a2a.ErrTaskNotFound
	}
	task, err := s.decode(ctx, rec)
	if err != nil {
		return nil, err
	}
	return &taskstore.StoredTask{Task: task, Version: taskstore.TaskVersion(rec.Version), User: rec.Caller}, nil
}

func (s *TaskStore) decode(ctx context.Context, rec store.A2ATask) (*a2a.Task, error) {
	var task a2a.Task
	if err := json.Unmarshal(rec.Task, &task); err != nil {
		return nil, s.internal(ctx, "decode task "+rec.ID, err)
	}
	return &task, nil
}

// List page sizes, as the A2A spec bounds them.
const (
	defaultPageSize = 50
	maxPageSize     = 100
	// defaultHistoryLength caps the history of listed tasks when the
	// request does not say, as the SDK's in-memory store does.
	defaultHistoryLength = 100
)

// List implements taskstore.Store: the caller's tasks (everyone's for an
// admin), newest update first. statusTimestampAfter filters by the time
// of the task's last write, which is when its status last changed or
// later.
func (s *TaskStore) List(ctx context.Context, req *a2a.ListTasksRequest) (*a2a.ListTasksResponse, error) {
	if req == nil {
		req = &a2a.ListTasksRequest{}
	}
	pageSize := req.PageSize
	if pageSize == 0 {
		pageSize = defaultPageSize
	} else if pageSize < 1 || pageSize > maxPageSize {
		return nil, fmt.Errorf("page size must be between 1 and %d, got %d: %w", maxPageSize, pageSize, a2a.ErrInvalidRequest)
	}
	f := store.A2ATaskFilter{ContextID: req.ContextID, NewestFirst: true, Limit: pageSize}
	if !s.opts.IsAdmin(ctx) {
		f.Caller = s.opts.Owner(ctx)
	}
	if req.Status != a2a.TaskStateUnspecified {
		f.States = []string{string(req.Status)}
	}
	if req.StatusTimestampAfter != nil {
		f.UpdatedAfter = *req.StatusTimestampAfter
	}
	if req.PageToken != "" {
		c, err := decodePageToken(req.PageToken)
		if err != nil {
			return nil, err
		}
		f.Before = c
	}
	recs, total, more, err := s.st.ListA2ATasks(ctx, f)
	if err != nil {
		return nil, s.internal(ctx, "list", err)
	}
	historyLength := defaultHistoryLength
	if req.HistoryLength != nil {
		historyLength = *req.HistoryLength
	}
	tasks := make([]*a2a.Task, 0, len(recs))
	for _, rec := range recs {
		task, err := s.decode(ctx, rec)
		if err != nil {
			return nil, err
		}
		if historyLength == 0 {
			task.History = []*a2a.Message{}
		} else if historyLength > 0 && len(task.History) > historyLength {
			task.History = task.History[len(task.History)-historyLength:]
		}
		if !req.IncludeArtifacts {
			task.Artifacts = nil
		}
		tasks = append(tasks, task)
	}
	resp := &a2a.ListTasksResponse{Tasks: tasks, TotalSize: total, PageSize: pageSize}
	if more && len(recs) > 0 {
		last := recs[len(recs)-1]
		resp.NextPageToken = encodePageToken(store.A2ATaskCursor{UpdatedAt: last.UpdatedAt, ID: last.ID})
	}
	return resp, nil
}

// A page token is the last listed task's update time (Unix microseconds)
// and ID: listing resumes below it even if that task changed meanwhile.
func encodePageToken(c store.A2ATaskCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.UpdatedAt.UnixMicro(), 10) + "_" + c.ID))
}

func decodePageToken(tok string) (store.A2ATaskCursor, error) {
	bad := fmt.Errorf("the page token is not one this server gave: %w", a2a.ErrInvalidRequest)
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return store.A2ATaskCursor{}, bad
	}
	at, id, ok := strings.Cut(string(raw), "_")
	if !ok || id == "" {
		return store.A2ATaskCursor{}, bad
	}
	us, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return store.A2ATaskCursor{}, bad
	}
	return store.A2ATaskCursor{UpdatedAt: time.UnixMicro(us).UTC(), ID: id}, nil
}

// TerminalStates are the A2A task states no event follows: SweepEvents
// drops the event logs of tasks in them.
var TerminalStates = []string{
	string(a2a.TaskStateCompleted), string(a2a.TaskStateCanceled),
	string(a2a.TaskStateFailed), string(a2a.TaskStateRejected),
}

// SweepEvents deletes the event logs of the finished tasks last written
// before olderThan (the tasks stay readable), and returns how many events
// it deleted. Its owner calls it periodically: a subscriber of a finished
// task gets the task from the store, not from its events.
func (s *TaskStore) SweepEvents(ctx context.Context, olderThan time.Time) (int64, error) {
	return s.st.SweepA2ATaskEvents(ctx, TerminalStates, olderThan)
}
