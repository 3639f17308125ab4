package jobs

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
)

// TestRedisQueueRecoverManyJobs: a dead consumer holding more jobs than
// one Recover batch gets all of them back on the queue, in order, by one
// Recover (issue 19: a Recover that stopped after its first batch of 100
// passed every other test).
func TestRedisQueueRecoverManyJobs(t *testing.T) {
	t.Parallel()
	const held = 2*redisRecoverBatch + 37
	ctx := t.Context()
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)
	payloads := make([]any, held)
	for i := range payloads {
		b, err := json.Marshal(Job{LocationID: uint64(i + 1), EnqueuedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		payloads[i] = b
	}
	// A processing list without an alive key: its consumer died.
	if err := client.RPush(ctx, prefix+":processing:dead", payloads...).Err(); err != nil {
		t.Fatal(err)
	}
	rescuer := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
	n, err := rescuer.Recover(ctx)
	if err != nil || n != held {
		t.Fatalf("Recover = %d, %v; want %d, nil", n, err, held)
	}
	if left, err := client.LLen(ctx, prefix+":processing:dead").Result(); err != nil || left != 0 {
		t.Errorf("dead consumer still holds %d jobs (%v)", left, err)
	}
	queueWantLen(t, rescuer, held)
	for i := range held {
		queueAck(t, queuePopWant(t, rescuer, uint64(i+1)))
	}
}
