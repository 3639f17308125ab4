package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// requireToken guards the shipment list, which exposes every receiver's
// address: with tokens configured, a request needs one of them as a
// bearer token. Comparing SHA-256 digests in constant time, over every
// configured token, leaks neither a token's length nor which one matched.
// A client past its allowance of failed attempts gets 429 before its token
// is even looked at, so a correct guess made then is not confirmed.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	if len(s.tokenHashes) == 0 {
		return next
	}
	fails := s.tokenFails
	return func(c echo.Context) error {
		ctx, client := c.Request().Context(), c.RealIP()
		if fails != nil {
			if exhausted, wait := fails.Exhausted(ctx, client); exhausted {
				return tooManyTokenFailures(c, wait)
			}
		}
		if bearerMatches(c, s.tokenHashes) {
			return next(c)
		}
		if fails != nil {
			if ok, wait := fails.Allow(ctx, client); !ok {
				return tooManyTokenFailures(c, wait)
			}
		}
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="shiptrack"`)
		return problem(http.StatusUnauthorized, "listing shipments needs an API token: send Authorization: Bearer <token>")
	}
}

// bearerMatches reports whether the request's bearer token is one of
// hashes, compared as requireToken explains.
func bearerMatches(c echo.Context, hashes [][sha256.Size]byte) bool {
	auth := c.Request().Header.Get(echo.HeaderAuthorization)
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for _, want := range hashes {
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return match == 1
}

// scope is one kind of token a route may need beside the read tokens:
// its tokens, and what a refusal says.
type scope struct {
	hashes [][sha256.Size]byte
	// other reports a valid token of another scope: 403, not counted.
	other func(c echo.Context) bool
	// off (no tokens configured: 403), wrong (another scope's token) and
	// missing (no or a wrong token: 401) are the refusals' details.
	off, wrong, missing string
}

// requireScope guards routes that need one of sc's tokens, always: with
// none configured every request is refused (403), so a forgotten setting
// closes the routes instead of opening them. A valid token of another
// scope is 403, not counted as a failure; anything else is a failed
// attempt (401), counted and limited as for the list.
func (s *Server) requireScope(sc scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, client := c.Request().Context(), c.RealIP()
			fails := s.tokenFails
			if fails != nil {
				if exhausted, wait := fails.Exhausted(ctx, client); exhausted {
					return tooManyTokenFailures(c, wait)
				}
			}
			if len(sc.hashes) == 0 {
				return problem(http.StatusForbidden, sc.off)
			}
			if bearerMatches(c, sc.hashes) {
				return next(c)
			}
			if sc.other(c) {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="shiptrack", error="insufficient_scope"`)
				return problem(http.StatusForbidden, sc.wrong)
			}
			if fails != nil {
				if ok, wait := fails.Allow(ctx, client); !ok {
					return tooManyTokenFailures(c, wait)
				}
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="shiptrack"`)
			return problem(http.StatusUnauthorized, sc.missing)
		}
	}
}

// requireWriteToken guards the write routes: one of the write tokens; a
// read token may read but not write.
func (s *Server) requireWriteToken(next echo.HandlerFunc) echo.HandlerFunc {
	return s.requireScope(scope{
		hashes:  s.writeHashes,
		other:   func(c echo.Context) bool { return len(s.tokenHashes) > 0 && bearerMatches(c, s.tokenHashes) },
		off:     "the write API is switched off: no write tokens are configured (api.write_tokens)",
		wrong:   "this token may read but not write: writes need a write token",
		missing: "writing needs a write token: send Authorization: Bearer <token>",
	})(next)
}

// tokenFailLimiter counts each client's failed token attempts (every 401):
// TokenFailLimit of them per TokenFailWindow, then 429. nil = no limit.
func (s *Server) tokenFailLimiter() RateLimiter {
	if s.cfg.TokenFailLimit <= 0 || s.cfg.TokenFailWindow <= 0 {
		return nil
	}
	return s.limits().Limiter("token_failures", Limit{
		Every: s.cfg.TokenFailWindow / time.Duration(s.cfg.TokenFailLimit), Burst: s.cfg.TokenFailLimit,
	})
}

func tooManyTokenFailures(c echo.Context, wait time.Duration) error {
	secs := strconv.Itoa(retryAfterSeconds(wait))
	c.Response().Header().Set("Retry-After", secs)
	return problem(http.StatusTooManyRequests, "too many failed token attempts from this client; retry after "+secs+"s")
}

// limits is where the per-client counts live: Config.Limits (Redis, shared
// by replicas) or this process's memory.
func (s *Server) limits() Limits {
	if s.cfg.Limits != nil {
		return s.cfg.Limits
	}
	return MemoryLimits{}
}

func hashTokens(tokens []string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, sha256.Sum256([]byte(t)))
		}
	}
	return out
}

// lookupLimiter caps lookups per client so tracking numbers cannot be
// enumerated at full speed; above the cap, 429 with Retry-After.
func (s *Server) lookupLimiter() echo.MiddlewareFunc {
	if s.cfg.RateLimit <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	burst := s.cfg.RateBurst
	if burst <= 0 {
		burst = max(1, int(math.Ceil(s.cfg.RateLimit)))
	}
	lim := s.limits().Limiter("lookups", Limit{Every: time.Duration(float64(time.Second) / s.cfg.RateLimit), Burst: burst})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ok, wait := lim.Allow(c.Request().Context(), c.RealIP()); !ok {
				secs := strconv.Itoa(retryAfterSeconds(wait))
				c.Response().Header().Set("Retry-After", secs)
				return problem(http.StatusTooManyRequests, "too many lookups from this client; retry after "+secs+"s")
			}
			return next(c)
		}
	}
}
