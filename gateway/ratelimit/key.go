package ratelimit

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ura-gateway/ura/gateway/identity"
)

// KeyPrefix starts every key the limiter writes, so that a Redis ACL
// (~ura:rl:*) can confine the gateway's user and an operator can find them.
const KeyPrefix = "ura:rl:"

// Key is the Redis key of one member's limit for one route class:
// ura:rl:<member ID>:<class>. The member ID comes from a verified
// certificate, but it is still checked against the member-ID grammar here:
// only [A-Z0-9/_-] can reach the key, so no ID can name another member's key,
// a glob, a hash tag or a second key.
func Key(memberID string, class Class) (string, error) {
	if err := identity.ValidMemberID(memberID); err != nil {
		return "", fmt.Errorf("rate limit key: %w", err)
	}
	if !slices.Contains(Classes, class) {
		return "", fmt.Errorf("rate limit key: unknown route class %q", class)
	}
	return KeyPrefix + memberID + ":" + string(class), nil
}

// libraryPrefix is the prefix redis_rate puts in front of every key it is
// given. unprefixed removes it so the keys stay in the gateway's own
// namespace.
const libraryPrefix = "rate:"

// unprefixed is a Redis client for redis_rate that strips its fixed key
// prefix. Only the commands redis_rate issues with keys are wrapped.
type unprefixed struct{ redis.UniversalClient }

func stripKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, libraryPrefix)
	}
	return out
}

func (u unprefixed) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return u.UniversalClient.Eval(ctx, script, stripKeys(keys), args...)
}

func (u unprefixed) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return u.UniversalClient.EvalSha(ctx, sha1, stripKeys(keys), args...)
}

func (u unprefixed) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return u.UniversalClient.EvalRO(ctx, script, stripKeys(keys), args...)
}

func (u unprefixed) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return u.UniversalClient.EvalShaRO(ctx, sha1, stripKeys(keys), args...)
}

func (u unprefixed) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return u.UniversalClient.Del(ctx, stripKeys(keys)...)
}
