package setup

import (
	"context"
	"fmt"
	"time"

	"chpass/shared/gateway"
	"chpass/shared/guard"
	"chpass/shared/platform"
	"chpass/shared/redis"
)

// Shared returns the Redis store that every instance shares when redis.address
// is set, opened once; nil otherwise, and then each surface keeps its state in
// memory (guard.Memory): per process, forgotten at restart. A Redis that does
// not answer is never fatal: requests then answer 503 until it does, and never
// fall back to per-instance state. The local server pings it at start and logs
// one that does not answer; on the clouds a cold start does not wait for Redis (a
// round trip, or the ping's timeout when it is down): the first request that needs
// it logs its failure.
func (a *App) Shared(ctx context.Context) (*redis.Store, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shared != nil || a.Config.Redis.Address == "" {
		return a.shared, nil
	}
	r := a.Config.Redis
	s, err := redis.Open(redis.Config{
		Address:     r.Address,
		CAFile:      r.CAFile,
		ServerName:  r.ServerName,
		Username:    r.Username.Reveal(),
		Password:    r.Password.Reveal(),
		KeyPrefix:   r.KeyPrefix,
		DialTimeout: r.DialTimeout,
		Timeout:     r.Timeout,
	}, guard.DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("redis.address: %w", err)
	}
	if platform.Detect() == gateway.Local {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := s.Ping(pctx); err != nil {
			a.Logger.Error().Err(err).Str("event", "redis_unavailable").Msg("Redis does not answer: signed requests answer 503 until it does")
		}
	}
	a.shared = s
	a.closers = append(a.closers, s)
	return s, nil
}
