package a2astore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/push"

	"github.com/parleyhq/parley/store"
)

// PushConfigs is the SDK's push.ConfigStore over store.A2APushConfigs.
type PushConfigs struct {
	st  store.A2APushConfigs
	log *slog.Logger
}

var _ push.ConfigStore = (*PushConfigs)(nil)

// NewPushConfigs returns a PushConfigs over st. log may be nil.
func NewPushConfigs(st store.A2APushConfigs, log *slog.Logger) *PushConfigs {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PushConfigs{st: st, log: log}
}

func (p *PushConfigs) internal(ctx context.Context, op string, err error) error {
	p.log.ErrorContext(ctx, "a2a push config store", "op", op, "error", err)
	return fmt.Errorf("the push configuration store failed: %w", a2a.ErrInternalError)
}

// Save implements push.ConfigStore: it gives a configuration without an ID
// a new one.
func (p *PushConfigs) Save(ctx context.Context, taskID a2a.TaskID, config *a2a.PushConfig) (*a2a.PushConfig, error) {
	if config == nil || config.URL == "" {
		return nil, fmt.Errorf("a push configuration needs a URL: %w", a2a.ErrInvalidParams)
	}
	if _, err := url.ParseRequestURI(config.URL); err != nil {
		return nil, fmt.Errorf("the push configuration's URL is not valid: %w", a2a.ErrInvalidParams)
	}
	c := *config
	if c.ID == "" {
		c.ID = rand.Text()
	}
	c.TaskID = taskID
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("the push configuration cannot be stored: %w", a2a.ErrInvalidParams)
	}
	if err := p.st.SaveA2APushConfig(ctx, string(taskID), c.ID, data); err != nil {
		return nil, p.internal(ctx, "save", err)
	}
	return &c, nil
}

// Get implements push.ConfigStore.
func (p *PushConfigs) Get(ctx context.Context, taskID a2a.TaskID, configID string) (*a2a.PushConfig, error) {
	rec, err := p.st.GetA2APushConfig(ctx, string(taskID), configID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, push.ErrPushConfigNotFound
	}
	if err != nil {
		return nil, p.internal(ctx, "get", err)
	}
	return p.decode(ctx, rec)
}

func (p *PushConfigs) decode(ctx context.Context, rec store.A2APushConfig) (*a2a.PushConfig, error) {
	var c a2a.PushConfig
	if err := json.Unmarshal(rec.Config, &c); err != nil {
		return nil, p.internal(ctx, "decode", err)
	}
	return &c, nil
}

// List implements push.ConfigStore: the task's configurations in the order
// they were created.
func (p *PushConfigs) List(ctx context.Context, taskID a2a.TaskID) ([]*a2a.PushConfig, error) {
	recs, err := p.st.ListA2APushConfigs(ctx, string(taskID))
	if err != nil {
		return nil, p.internal(ctx, "list", err)
	}
	out := make([]*a2a.PushConfig, 0, len(recs))
	for _, rec := range recs {
		c, err := p.decode(ctx, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Delete implements push.ConfigStore.
func (p *PushConfigs) Delete(ctx context.Context, taskID a2a.TaskID, configID string) error {
	if err := p.st.DeleteA2APushConfig(ctx, string(taskID), configID); err != nil {
		return p.internal(ctx, "delete", err)
	}
	return nil
}

// DeleteAll implements push.ConfigStore.
func (p *PushConfigs) DeleteAll(ctx context.Context, taskID a2a.TaskID) error {
	if err := p.st.DeleteA2APushConfigs(ctx, string(taskID)); err != nil {
		return p.internal(ctx, "delete all", err)
	}
	return nil
}
