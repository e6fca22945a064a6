package a2astore

// SetWaitHook makes q call f whenever a Read finds no work and waits.
func SetWaitHook(q *WorkQueue, f func()) { q.waiting = f }

// SetPullWaitHook makes e's pullers call f whenever a pull finds no event
// and waits.
func SetPullWaitHook(e *Events, f func()) { e.waiting = f }

// SetSettledHook makes q call f after each Complete or Return of an item.
func SetSettledHook(q *WorkQueue, f func()) { q.settled = f }
