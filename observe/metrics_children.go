package observe

import (
	"sync"
	"sync/atomic"
)

// Children caches the children of an instrument vector (or a struct of
// them) by key, for hot paths: a lookup is a lock-free map read that does
// not allocate (a sync.Map would box the key on every call), and a new key
// copies the map once. Use it for keys that are bounded and settle soon
// (the routes mounted, the tools served, the agents registered). The zero
// value is ready to use.
type Children[K comparable, V any] struct {
	mu sync.Mutex // serializes additions
	m  atomic.Pointer[map[K]V]
}

// Lookup returns the value cached for k.
func (c *Children[K, V]) Lookup(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// Get returns the value for k, made by newValue (under a lock, once per
// key) the first time k is asked for.
func (c *Children[K, V]) Get(k K, newValue func() V) V {
	if v, ok := c.Lookup(k); ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.Lookup(k); ok {
		return v
	}
	v := newValue()
	c.store(k, v)
	return v
}

// Add caches v for k unless a value is cached already, and returns the
// value cached.
func (c *Children[K, V]) Add(k K, v V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.Lookup(k); ok {
		return old
	}
	c.store(k, v)
	return v
}

// store adds k with c.mu held.
func (c *Children[K, V]) store(k K, v V) {
	old := c.m.Load()
	var n map[K]V
	if old == nil {
		n = make(map[K]V, 1)
	} else {
		n = make(map[K]V, len(*old)+1)
		for key, val := range *old {
			n[key] = val
		}
	}
	n[k] = v
	c.m.Store(&n)
}
