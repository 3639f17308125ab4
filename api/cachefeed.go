package api

import (
	"context"
	"errors"
	"log/slog"

	"github.com/shiptrack/shiptrack/shipment"
)

// Follow keeps the cache correct from the store's change feed: watch
// (store.Store.WatchChanges) runs until ctx ends or stop is called, and
// each change it reports goes to Apply. The cache turns on when the feed
// listens and off when it is lost, and says so in the log. stop waits for
// the feed to end; it must run before the store closes.
func (c *Cache) Follow(ctx context.Context, watch func(context.Context, func(shipment.Change)) error, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := watch(ctx, func(ch shipment.Change) {
			switch ch.Kind {
			case shipment.ChangeListening:
				log.Info("change feed listening: read cache on", "cache_mb", int(c.max>>20))
			case shipment.ChangeLost:
				log.Warn("change feed lost: read cache off until it reconnects")
			}
			c.Apply(ch)
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("change feed stopped: read cache off", "error", err)
		}
	}()
	return func() { cancel(); <-done }
}
